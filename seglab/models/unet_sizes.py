"""U-Net size arithmetic: which input sides a U-Net accepts and what each level does to them.

``unet_output_size(572) == 388`` for the paper's network (Ronneberger et al. 2015, Figure 1). In ``"valid"`` mode
(the paper's unpadded convolutions) only one input side in ``2**depth`` fits; an input that does not fit raises
``ValueError`` naming the nearest sizes that do. Importable from :mod:`seglab.models.unet` too.
"""

from __future__ import annotations

from seglab.models.base import check_choice, check_positive_int

__all__ = ["unet_size_trace", "unet_size_trace_partial", "unet_output_size", "unet_valid_input_sizes", "PADDINGS"]

#: ``"valid"``: the paper's unpadded 3x3 convolutions; ``"same"``: padded by 1, a level keeps its size.
PADDINGS = ("valid", "same")


def unet_size_trace(size: int, depth: int = 4, padding: str = "valid") -> list[dict]:
    """Follow one spatial side of length ``size`` through a U-Net; raise ``ValueError`` if it cannot pass.

    Returns one dict per step, in order: ``{"stage": "encoder"|"bottom"|"decoder", "level": i, "in": s, "out": s',
    "crop": c}``. Encoder rows are the double convolutions (``out`` is the size of the copied skip), decoder rows
    give the upsampled size (``up``), the skip size (``skip``), the crop taken from each side of the skip (valid
    mode; ``(skip - up) / 2``) or the padding added to the upsampled map (same mode, ``pad`` 0 or 1), and the size after
    the double convolution (``out``).
    """
    steps, error = unet_size_trace_partial(size, depth, padding)
    if error is not None:
        raise ValueError(error)
    return steps


def unet_size_trace_partial(size: int, depth: int = 4, padding: str = "valid") -> tuple[list[dict], str | None]:
    """:func:`unet_size_trace` that stops where the size fails instead of raising: ``(rows so far, reason)``,
    ``reason`` None when the size passes (what the size explorer draws for an invalid size)."""
    check_positive_int("size", size)
    check_positive_int("depth", depth, 0)
    check_choice("padding", padding, PADDINGS)
    shrink = 4 if padding == "valid" else 0
    steps, skips, s = [], [], size
    for level in range(depth + 1):
        out = s - shrink
        stage = "bottom" if level == depth else "encoder"
        if out < 1:
            return steps, f"{stage} level {level} gets {s} px, too small for two 3x3 valid convolutions"
        steps.append({"stage": stage, "level": level, "in": s, "out": out})
        if level == depth:
            s = out
            break
        if padding == "valid" and out % 2:
            return steps, f"encoder level {level} produces {out} px, an odd size that 2x2 pooling cannot halve"
        if out < 2:
            return steps, f"encoder level {level} produces {out} px, too small for 2x2 pooling"
        skips.append(out)
        s = out // 2
    for level in reversed(range(depth)):
        up, skip = 2 * s, skips[level]
        row = {"stage": "decoder", "level": level, "in": s, "up": up, "skip": skip}
        if padding == "valid":
            row["crop"] = (skip - up) // 2
            merged = up
        else:
            row["pad"] = skip - up
            merged = skip
        row["out"] = merged - shrink
        if row["out"] < 1:
            return steps, f"decoder level {level} gets {merged} px, too small for two 3x3 valid convolutions"
        steps.append(row)
        s = row["out"]
    return steps, None


def _is_valid(size: int, depth: int, padding: str) -> bool:
    try:
        unet_size_trace(size, depth, padding)
    except ValueError:
        return False
    return True


def unet_valid_input_sizes(min_size: int = 1, max_size: int = 1024, depth: int = 4,
                           padding: str = "valid") -> list[int]:
    """Every input side length in ``[min_size, max_size]`` that a U-Net of this depth and padding accepts.

    Valid mode: one size in ``2**depth`` (..., 556, 572, 588, ... for depth 4). Same mode: every size >= ``2**depth``.
    """
    check_positive_int("min_size", min_size)
    check_positive_int("max_size", max_size)
    return [s for s in range(min_size, max_size + 1) if _is_valid(s, depth, padding)]


def _nearest_valid(size: int, depth: int, padding: str) -> list[int]:
    step = 2 ** depth
    below = [s for s in range(size - 1, max(size - 2 * step, 0), -1) if _is_valid(s, depth, padding)][:1]
    above = [s for s in range(size + 1, size + 2 * step + 4 * step + 64) if _is_valid(s, depth, padding)][:1]
    return below + above


def unet_output_size(input_size, depth: int = 4, padding: str = "valid"):
    """Output side(s) of a U-Net for ``input_size`` (an int or ``(H, W)``).

    An input that does not fit raises ``ValueError`` naming the nearest valid sizes.

    ``unet_output_size(572) == 388`` for the paper's network.
    """
    if isinstance(input_size, (tuple, list)):
        if len(input_size) != 2:
            raise ValueError(f"input_size must be an int or (H, W), got {input_size!r}")
        return tuple(unet_output_size(int(s), depth, padding) for s in input_size)
    try:
        return unet_size_trace(input_size, depth, padding)[-1]["out"]
    except ValueError as exc:
        if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1:
            raise
        near = _nearest_valid(input_size, depth, padding)
        pairs = ", ".join(f"{s} (-> {unet_size_trace(s, depth, padding)[-1]['out']})" for s in near)
        raise ValueError(
            f"input size {input_size} does not fit a depth-{depth} U-Net with padding={padding!r}: {exc}; "
            f"nearest valid input sizes: {pairs}"
        ) from None
