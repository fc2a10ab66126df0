"""Elastic deformation: the field's definition, the warp's direction, labels kept, determinism, the transform."""

import pytest
import torch

from seglab.data import ElasticDeform, elastic_deform
from seglab.data.elastic import elastic_displacement, warp


def scene(h=40, w=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(3, h, w, generator=g)
    mask = torch.randint(0, 4, (h, w), generator=g)
    mask[10:20, 10:30] = 6
    return image, mask


def test_field_passes_through_the_coarse_lattice():
    h, w, grid, std = 41, 61, 3, 7.0
    field = elastic_displacement(h, w, std=std, grid=grid, seed=3, dtype=torch.float64)
    coarse = torch.randn(1, 2, grid, grid, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * std
    ys, xs = [0, 20, 40], [0, 30, 60]  # lattice points: corners and centres (align_corners=True)
    lattice = field[:, ys][:, :, xs]
    assert torch.allclose(lattice, coarse[0], atol=1e-9)
    assert field.shape == (2, h, w) and field.dtype == torch.float64


def test_field_statistics_and_smoothness():
    fields = torch.stack([elastic_displacement(33, 33, std=10.0, grid=3, seed=s) for s in range(300)])
    corners = fields[:, :, ::16, ::16].reshape(-1)
    assert abs(corners.std().item() - 10.0) < 0.6  # Gaussian with std 10 px at the lattice points
    # smooth: neighbouring pixels move almost together (a 3x3 lattice over 33 px: 16 px between lattice points)
    assert (fields[..., 1:] - fields[..., :-1]).abs().max() < 0.5 * fields.abs().max()


def test_warp_direction_with_a_constant_shift():
    image = torch.arange(30.0, dtype=torch.float64).reshape(1, 5, 6)
    shift = torch.zeros(2, 5, 6, dtype=torch.float64)
    shift[1] = 1.0  # dx = +1: output(y, x) = input(y, x + 1)
    out, _ = warp(image, None, shift, border="ignore")
    assert torch.allclose(out[0, :, :-1], image[0, :, 1:])
    assert torch.all(out[0, :, -1] == 0)  # came from outside the image
    half = shift * 0.5
    out, _ = warp(image, None, half)
    assert torch.allclose(out[0, :, :-1], (image[0, :, 1:] + image[0, :, :-1]) / 2)  # bilinear


def test_zero_std_is_identity():
    image, mask = scene()
    out_image, out_mask = elastic_deform(image, mask, std=0.0, seed=1)
    assert torch.allclose(out_image, image, atol=1e-5)
    assert torch.equal(out_mask, mask)


def test_deterministic_under_seed_and_different_across_seeds():
    image, mask = scene()
    a = elastic_deform(image, mask, std=5.0, grid=3, seed=7)
    b = elastic_deform(image, mask, std=5.0, grid=3, seed=7)
    c = elastic_deform(image, mask, std=5.0, grid=3, seed=8)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert not torch.equal(a[1], mask)


@pytest.mark.parametrize("border", ["reflect", "ignore"])
def test_mask_keeps_labels_and_dtypes(border):
    image, mask = scene()
    mask = mask.to(torch.uint8)
    out_image, out_mask = elastic_deform(image.double(), mask, std=12.0, grid=4, seed=2, border=border)
    allowed = set(mask.unique().tolist()) | ({255} if border == "ignore" else set())
    assert set(out_mask.unique().tolist()) <= allowed
    assert out_mask.dtype == torch.uint8 and out_image.dtype == torch.float64
    if border == "reflect":
        assert 255 not in out_mask.unique().tolist()
    # the image and mask move together: with a whole-pixel field, an image that equals the mask warps to the mask
    field = elastic_displacement(40, 50, std=6.0, seed=5).round()
    warped_image, warped_mask = warp(mask.double()[None], mask, field, border=border)
    keep = warped_mask != 255
    assert keep.any() and torch.equal(warped_image[0][keep].round().to(torch.uint8), warped_mask[keep])
    img_u8 = (image * 255).round().to(torch.uint8)
    out_u8, _ = elastic_deform(img_u8, None, std=12.0, grid=4, seed=2, border=border)
    assert out_u8.dtype == torch.uint8 and out_u8.shape == img_u8.shape


def test_two_dimensional_image():
    image, mask = scene()
    out, none = elastic_deform(image[0], std=3.0, seed=0)
    assert out.shape == image[0].shape and none is None


def test_transform_in_a_dataset_pipeline():
    image, mask = scene()
    t = ElasticDeform(std=4.0, grid=3, p=1.0, seed=0)
    first = t(image, mask)
    again = ElasticDeform(std=4.0, grid=3, p=1.0, seed=0)(image, mask)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    second = t(image, mask)
    assert not torch.equal(first[0], second[0])  # the generator moves on
    never = ElasticDeform(std=4.0, p=0.0, seed=0)(image, mask)
    assert never[0] is image and never[1] is mask
    assert "ElasticDeform(std=4.0" in repr(t)
    with pytest.raises(TypeError, match="semantic mask"):
        t(image, {"masks": mask[None]})


def test_bad_inputs():
    image, mask = scene()
    with pytest.raises(ValueError, match="grid"):
        elastic_deform(image, mask, grid=1)
    with pytest.raises(ValueError, match="std"):
        elastic_deform(image, mask, std=-1)
    with pytest.raises(ValueError, match="mask size"):
        elastic_deform(image, mask[:-1])
    with pytest.raises(ValueError, match="image"):
        elastic_deform(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="p must"):
        ElasticDeform(p=2)
    with pytest.raises(ValueError, match="border"):
        elastic_deform(image, mask, border="wrap")


@pytest.mark.gpu
def test_cuda_matches_cpu(no_tf32):  # TF32 off (conftest.no_tf32): float32 on both devices
    image, mask = scene()
    a = elastic_deform(image, mask, std=5.0, seed=4)
    b = elastic_deform(image.cuda(), mask.cuda(), std=5.0, seed=4)
    assert b[0].is_cuda and torch.allclose(a[0], b[0].cpu(), atol=1e-5) and torch.equal(a[1], b[1].cpu())


def test_transform_composes_with_the_data_transforms():
    from seglab.data.transforms import Compose, RandomCrop, RandomHorizontalFlip

    image, mask = scene(64, 64)
    pipeline = Compose([ElasticDeform(std=3.0, seed=1), RandomCrop(32), RandomHorizontalFlip()])
    out_image, out_mask = pipeline(image, mask)
    assert out_image.shape == (3, 32, 32) and out_mask.shape == (32, 32) and out_mask.dtype == torch.int64
    assert set(out_mask.unique().tolist()) <= set(mask.unique().tolist())
