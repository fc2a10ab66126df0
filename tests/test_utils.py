"""seglab.utils.to_numpy: the one tensor -> NumPy conversion."""

import numpy as np
import pytest
import torch

from seglab.utils import to_numpy


def test_to_numpy_tensors_arrays_and_lists():
    x = torch.arange(6.0, requires_grad=True).reshape(2, 3) * 2  # needs detach
    out = to_numpy(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.tolist() == [[0, 2, 4], [6, 8, 10]]
    array = np.arange(4)
    assert to_numpy(array) is array  # no copy
    assert to_numpy([1, 2]).tolist() == [1, 2] and to_numpy(3).shape == ()
    assert to_numpy(torch.tensor([True, False])).dtype == bool


@pytest.mark.gpu
def test_to_numpy_moves_cuda_tensors_to_the_cpu():
    assert to_numpy(torch.ones(2, device="cuda")).tolist() == [1.0, 1.0]
