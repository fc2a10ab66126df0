"""Every explorer: the median time from setting a control to a finished picture (PNG bytes on the widget), and the
time to build it, with default data and the default model (the shipped weights when present).

Target (issue 16): at most 50 ms median per update on a 2-core CPU; issue 27: every move, a new image included,
within 150 ms in the browser with the machine loaded. Each explorer's controls are moved through a fixed tour twice;
the time is taken from setting the control to the new picture on the widget (what the browser waits for). The
model explorers (``fcn_fusion_explorer``, ``mask_rcnn_explorer``) run their models on the neighbouring images right
after a picture is out, so a move by one image only redraws: the note gives the first visits of an image and the
slowest move. Widgets always run on the CPU, whatever ``--device`` says.
"""

from __future__ import annotations

import statistics
import time

from harness import Row, device_name

#: Per explorer: the controls moved, in order (each value valid with the defaults and the values before it).
TOURS = {
    "scene_browser": [("index", 1), ("index", 2), ("view", "semantic"), ("index", 3), ("view", "all"), ("index", 0)],
    "transposed_conv_explorer": [("input_size", 4), ("stride", 3), ("kernel_size", 4), ("padding", 1),
                                 ("dilation", 2), ("cell", 5), ("output_padding", 1), ("input_size", 5),
                                 ("stride", 2), ("kernel_size", 3), ("padding", 0), ("dilation", 1), ("cell", 2),
                                 ("output_padding", 0), ("input_size", 3)],
    "upsampling_explorer": [("scale", 3), ("method", "nearest"), ("scale", 4), ("method", "bilinear"), ("scale", 2)],
    "fcn_fusion_explorer": [("image", 1), ("fuse_pool3", False), ("image", 2), ("fuse_pool3", True), ("image", 3),
                            ("fuse_pool4", False), ("fuse_pool4", True), ("image", 0)],
    "elastic_explorer": [("std", 8.0), ("grid", 4), ("seed", 1), ("std", 10.0), ("seed", 2), ("grid", 3),
                         ("std", 6.0), ("seed", 0)],
    "unet_size_explorer": [("input_size", 570), ("input_size", 572), ("depth", 3), ("padding", "same"),
                           ("input_size", 400), ("depth", 4), ("padding", "valid"), ("input_size", 572)],
    "unpool_explorer": [("size", 9), ("window", 3), ("stride", 3), ("seed", 1), ("size", 8), ("window", 2),
                        ("stride", 2), ("seed", 0)],
    "roi_align_explorer": [("x1", 10.0), ("y1", 5.0), ("x2", 50.0), ("y2", 40.0), ("output_size", 3),
                           ("sampling_ratio", 0), ("aligned", True), ("spatial_scale", 0.5), ("x1", 13.0),
                           ("output_size", 2), ("sampling_ratio", 2), ("aligned", False), ("spatial_scale", 0.25),
                           ("x2", 45.0), ("y1", 9.0), ("y2", 38.0)],
    "mask_rcnn_explorer": [("image", 1), ("score_threshold", 0.3), ("image", 2), ("score_threshold", 0.7),
                           ("image", 0), ("score_threshold", 0.5)],
    "panoptic_explorer": [("index", 1), ("operation", "dilate"), ("amount", 3), ("threshold", 0.3), ("index", 2),
                          ("operation", "drop"), ("amount", 5), ("operation", "none"), ("threshold", 0.5),
                          ("index", 0)],
}
#: Controls whose new values run a model (first visits are reported apart).
MODEL_CONTROLS = {"fcn_fusion_explorer": {"image", "model"}, "mask_rcnn_explorer": {"image"}}


def measure(name: str, rounds: int = 2, moves: int | None = None) -> dict:
    """Build explorer ``name`` with its defaults, then run its tour ``rounds`` times: times in seconds."""
    from seglab import widgets

    start = time.perf_counter()
    explorer = getattr(widgets, name)()
    build = time.perf_counter() - start
    tour = TOURS[name][:moves]
    updates, first_visits, seen, drawn = [], [], set(), []
    explorer.image.observe(lambda change: drawn.append(time.perf_counter()), names="value")
    for _ in range(rounds):
        for control, value in tour:
            drawn.clear()
            start = time.perf_counter()
            explorer.controls[control].value = value
            seconds = (drawn[0] if drawn else time.perf_counter()) - start  # to the picture, not past the prefetch
            if "exception" in explorer.state:
                raise RuntimeError(f"{name}: setting {control}={value!r} failed: {explorer.state['exception']}")
            if control in MODEL_CONTROLS.get(name, ()) and (control, value) not in seen:
                first_visits.append(seconds)
            else:
                updates.append(seconds)
            seen.add((control, value))
    return {"build": build, "updates": updates, "first_visits": first_visits}


def rows(device, quick: bool = False):
    cpu = device_name("cpu")
    for name in TOURS:
        m = measure(name, rounds=1 if quick else 2, moves=2 if quick else None)
        times = m["updates"] or m["first_visits"]
        note = f"build {1000 * m['build']:.0f} ms; {len(times)} moves, max {1000 * max(times):.0f} ms"
        if m["first_visits"]:
            note += (f"; first visit of an image: median {1000 * statistics.median(m['first_visits']):.0f} ms, "
                     f"max {1000 * max(m['first_visits']):.0f} ms (neighbours computed after each picture)")
        yield Row(f"{name} update", 1000 * statistics.median(times), "ms", cpu,
                  note=note + "; target <= 50 ms median, every move <= 150 ms in the browser")
