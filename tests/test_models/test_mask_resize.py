"""resize_masks: F.interpolate's bilinear resize, faster on the CPU."""
import pytest
import torch
import torch.nn.functional as F

from rap_sam.models.utils import resize_masks


def interpolate(masks, size):
    masks = F.interpolate(
        masks[:, None], size=size, mode='bilinear', align_corners=False)
    return masks[:, 0]


@pytest.mark.parametrize('shape', [(10, 256, 256), (2, 176, 256)])
def test_stride_4_masks_bit_for_bit_when_rows_fill_the_vectors(shape):
    """Widths and heights that are multiples of 16 (AVX-512 floats)."""
    torch.manual_seed(0)
    masks = torch.randn(shape) * 10
    size = (4 * shape[1], 4 * shape[2])
    got = resize_masks(masks, size)
    assert got.is_contiguous()
    assert torch.equal(got, interpolate(masks, size))


@pytest.mark.parametrize('shape,size', [((3, 200, 333), (800, 1332)),
                                        ((1, 9, 13), (36, 52)),
                                        ((3, 13, 13), (26, 26)),
                                        ((3, 13, 13), (39, 104))])
def test_whole_factors_within_the_last_bit(shape, size):
    torch.manual_seed(0)
    masks = torch.randn(shape) * 10
    got, expected = resize_masks(masks, size), interpolate(masks, size)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-5)
    differ = (got > 0) != (expected > 0)
    assert (expected[differ].abs() < 1e-5).all()


@pytest.mark.parametrize('size', [(40, 61), (7, 9), (13, 26)])
def test_other_sizes_are_f_interpolate(size):
    masks = torch.randn(2, 13, 17)
    assert torch.equal(resize_masks(masks, size), interpolate(masks, size))


def test_no_masks():
    assert resize_masks(torch.zeros(0, 4, 5), (16, 20)).shape == (0, 16, 20)
