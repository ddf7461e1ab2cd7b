"""above: ``values > threshold`` as bool, through a float pass on the CPU."""
import pytest
import torch

from rap_sam.models.utils import above


def _logits(dtype=torch.float32):
    torch.manual_seed(0)
    values = torch.randn(3, 37, 53) * 4
    flat = values.view(-1)
    flat[:6] = torch.tensor([0., -0., float('inf'), -float('inf'), 1e-40,
                             -1e-40])  # signed zeros, infinities, subnormals
    flat[6:9] = 0.5  # on the threshold below
    return values.to(dtype)


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
@pytest.mark.parametrize('threshold', [0., 0.5, -1.25])
def test_the_mask_of_the_comparison(dtype, threshold):
    values = _logits(dtype)
    got = above(values, threshold)
    assert got.dtype == torch.bool
    assert torch.equal(got, values > threshold)
    # the input is left as it was
    assert torch.equal(values, _logits(dtype))


def test_writes_into_out():
    values = _logits()
    out = torch.zeros(4, *values.shape[1:], dtype=torch.bool)
    returned = above(values[:2], out=out[1:3])
    assert returned.data_ptr() == out[1].data_ptr()
    assert torch.equal(out[1:3], values[:2] > 0)
    assert not out[0].any() and not out[3].any()


def test_integers_and_tensors_with_gradients_compare_directly():
    ints = torch.arange(-5, 5)
    assert torch.equal(above(ints, 1), ints > 1)
    values = _logits().requires_grad_()
    got = above(values)
    assert not got.requires_grad
    assert torch.equal(got, values.detach() > 0)


def test_nan_counts_as_above():
    """The documented difference from ``>``."""
    values = torch.tensor([float('nan'), -1., 1.])
    assert above(values).tolist() == [True, False, True]
