"""seglab.viz.raster: the pixel-painting kit behind the explorers' pictures (pure: arrays in, RGB array out)."""

import numpy as np
import torch

from seglab.viz.raster import as_figure, boundary, compose, enlarge, grid_panel, rgb8, stamp_numbers, tile
from seglab.widgets.base import picture_to_png


def test_rgb8_takes_tensors_floats_grey_and_uint8():
    t = torch.zeros(3, 4, 5)
    t[0] = 1.0
    out = rgb8(t)
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8 and (out[..., 0] == 255).all() and (out[..., 1:] == 0).all()
    grey = rgb8(np.full((2, 3), 0.5))
    assert grey.shape == (2, 3, 3) and (grey == 128).all()
    raw = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    assert rgb8(raw) is not None and np.array_equal(rgb8(raw), raw)


def test_enlarge_and_boundary():
    img = np.arange(4, dtype=np.uint8).reshape(2, 2)
    assert np.array_equal(enlarge(img, 3)[:3, :3], np.zeros((3, 3))) and enlarge(img, 3).shape == (6, 6)
    square = np.zeros((8, 8), dtype=bool)
    square[2:6, 2:6] = True
    ring = boundary(square)
    assert ring.sum() == 12 and not ring[3:5, 3:5].any() and ring[2, 2:6].all()
    assert np.array_equal(boundary(square, width=2), square)
    edge = np.ones((4, 4), dtype=bool)  # at the picture's border too
    assert boundary(edge).sum() == 12


def test_stamp_numbers_inks_every_cell_dark_or_light():
    light = grid_panel(np.zeros((2, 2)), (40, 40), cmap="Greys", vmin=0, vmax=1, lines=False)
    stamp_numbers(light, np.array([[1, 7], [23, 4]]))
    for i in range(2):
        for j in range(2):
            cell = light[20 * i : 20 * (i + 1), 20 * j : 20 * (j + 1)]
            assert (cell.sum(-1) == 0).any()  # black ink on a light cell
    dark = grid_panel(np.ones((1, 1)), (20, 20), cmap="Greys", vmin=0, vmax=1, lines=False)
    stamp_numbers(dark, np.array([[2.5]]), "{:.1f}")
    assert (dark == 255).all(-1).any()  # white ink on a dark cell
    tiny = grid_panel(np.zeros((1, 1)), (4, 4), cmap="Greys", vmin=0, vmax=1, lines=False)
    before = tiny.copy()
    stamp_numbers(tiny, np.array([[123456]]))  # does not fit: left out
    assert np.array_equal(tiny, before)


def test_tile_places_panels_and_titles():
    a = np.zeros((10, 20, 3), dtype=np.uint8)
    b = np.full((30, 10, 3), 255, dtype=np.uint8)
    sheet, places = tile([(a, "a"), (b, "b"), (a, "")], cols=2, gap=4, head=12)
    picture = sheet.array()
    (xa, ya), (xb, yb), (xc, yc) = places
    assert ya == yb == 12 and xb == xa + 20 + 4 and xc == xa and yc == 12 + 30 + 4 + 12
    assert (picture[ya : ya + 10, xa : xa + 20] == 0).all() and (picture[yc : yc + 10, xc : xc + 20] == 0).all()
    assert picture.shape == (yc + 10 + 4, xb + 10 + 4, 3)  # each column as wide as its widest panel


def test_pictures_wrap_in_figures_pixel_for_pixel():
    picture = compose([{"image": grid_panel(np.arange(9).reshape(3, 3), (60, 60)), "at": (0, 0), "title": "x",
                        "numbers": np.arange(9).reshape(3, 3)}])
    _, drawn = picture_to_png(as_figure(picture))
    assert drawn.shape == picture.shape and np.array_equal(drawn, picture)


def test_explorer_renderers_are_pure():
    from seglab.ops import roi_align, roi_align_sampling_grid, roi_pool_bins
    from seglab.viz.roi import roi_pooling_picture
    from seglab.widgets.roi import default_features

    fmap = default_features()
    box = torch.tensor([13.0, 9.0, 45.0, 38.0], dtype=torch.float64)
    rois = torch.cat([torch.zeros(1, dtype=torch.float64), box])[None]
    align = roi_align(fmap[None, None], rois, 2, 0.25, 2)[0, 0]
    args = (fmap, box * 0.25, roi_align_sampling_grid(box, 2, 0.25, 2), *roi_pool_bins(box, 2, 0.25, 16, 16),
            align, align)
    kept = fmap.clone()
    first, second = roi_pooling_picture(*args), roi_pooling_picture(*args)
    assert np.array_equal(first, second) and torch.equal(fmap, kept) and first.shape[2] == 3
