"""Edit one segment of a panoptic prediction (grow, shrink, move, drop, merge): how PQ responds to each mistake.

Chapter 6's explorer applies these edits to a prediction (by default the ground truth itself) and scores the result.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from seglab.utils import to_numpy

__all__ = ["perturb_segment", "OPERATIONS"]

#: The edits :func:`perturb_segment` knows.
OPERATIONS = ("none", "dilate", "erode", "shift right", "shift down", "drop", "merge with")


def perturb_segment(id_map, segments_info, segment_id: int, operation: str, amount: int = 1, other_id=None):
    """Edit one predicted segment; returns a new ``(id_map int64[H, W], segments_info)``.

    dilate / erode by ``amount`` pixels (dilation takes pixels from neighbours, erosion leaves VOID); shift moves it
    ``amount`` pixels (the vacated pixels become VOID); drop turns it into VOID; merge with gives ``other_id``'s pixels
    to it. Segments left without pixels are removed from ``segments_info``.
    """
    ids = to_numpy(id_map).astype(np.int64)  # astype copies: the caller's map is never modified
    known = {s["id"] for s in segments_info}
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {OPERATIONS}, got {operation!r}")
    if operation != "none" and segment_id not in known:
        raise ValueError(f"segment_id {segment_id} is not in segments_info (ids: {sorted(known)})")
    if amount < 0:
        raise ValueError(f"amount must be >= 0, got {amount}")
    region = ids == segment_id
    if operation == "dilate" and amount:
        ids[ndimage.binary_dilation(region, iterations=amount)] = segment_id
    elif operation == "erode" and amount:
        ids[region & ~ndimage.binary_erosion(region, iterations=amount)] = 0
    elif operation.startswith("shift"):
        axis = 1 if operation == "shift right" else 0
        moved = np.zeros_like(region)
        src = [slice(None)] * 2
        dst = [slice(None)] * 2
        src[axis], dst[axis] = slice(0, region.shape[axis] - amount), slice(amount, None)
        moved[tuple(dst)] = region[tuple(src)]
        ids[region] = 0
        ids[moved] = segment_id
    elif operation == "drop":
        ids[region] = 0
    elif operation == "merge with":
        if other_id is None or other_id not in known or other_id == segment_id:
            raise ValueError("merge with needs a second, different segment (pick one in 'other')")
        ids[ids == other_id] = segment_id
    present = set(np.unique(ids).tolist())
    return ids, [dict(s) for s in segments_info if s["id"] in present]
