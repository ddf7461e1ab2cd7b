"""The 'int8' PixelFeatures kernel: the map quantized per channel, mask
logits and mask pooling as int8 GEMMs."""
import pytest
import torch

from rap_sam.models.heads import PixelFeatures, hard_mask_pool
from rap_sam.models.heads.int8_pixels import (Int8Pixels,
                                              int8_products_available)
from rap_sam.models.heads.pixel_features import onednn_packing_available
from rap_sam.models.layers import FactoredMap

needs_int8 = pytest.mark.skipif(
    not (int8_products_available(torch.zeros(1))
         and onednn_packing_available(torch.zeros(1))),
    reason='torch._int_mm or oneDNN is not available in this torch build')


def _map(dtype=torch.float32, channels_last=False, seed=0):
    torch.manual_seed(seed)
    # channels of different ranges, as a real map has
    features = torch.randn(2, 32, 23, 37) * torch.logspace(
        -1, 1, 32).view(1, 32, 1, 1)
    features = features.to(dtype)
    if channels_last:
        features = features.contiguous(memory_format=torch.channels_last)
    return features


@needs_int8
@pytest.mark.parametrize('channels_last', [False, True])
def test_the_map_is_quantized_per_image_and_channel(channels_last):
    features = _map(channels_last=channels_last)
    quantized = Int8Pixels(features)
    pixels = features.flatten(2).transpose(1, 2)  # (B, P, C)
    assert quantized.values.dtype == torch.int8
    assert quantized.values.shape == pixels.shape
    expected_scales = pixels.abs().amax(1) / 127
    torch.testing.assert_close(quantized.scales, expected_scales)
    # the largest value of each channel is +-127, every value within half
    # a step of the map
    assert torch.equal(quantized.values.abs().amax(1).int(),
                       torch.full((2, 32), 127, dtype=torch.int))
    error = (quantized.values.float() * quantized.scales[:, None] - pixels)
    assert (error.abs() <= quantized.scales[:, None] * 0.5001).all()
    # either layout, the same quantized map (blocks of pixels included)
    other = Int8Pixels(
        features.contiguous() if channels_last else features.contiguous(
            memory_format=torch.channels_last))
    assert torch.equal(other.values, quantized.values)


@needs_int8
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
@pytest.mark.parametrize('num_queries', [0, 1, 10, 110])
def test_int8_products_are_those_of_the_quantized_map(dtype, num_queries):
    features = _map(dtype)
    queries = torch.randn(2, num_queries, 32).to(dtype)
    mask_logits = torch.randn(2, num_queries, 23, 37)
    pixels = PixelFeatures(features, 'int8')
    got_masks = pixels.mask_logits(queries)
    got_pool = pixels.pool(mask_logits, 0.5)
    assert got_masks.dtype == got_pool.dtype == dtype
    assert got_masks.shape == (2, num_queries, 23, 37)
    assert got_pool.shape == (2, num_queries, 32)
    # pooling under binary masks: the exact sums of the quantized map
    # (the reference in float64: no rounding of its own)
    quantized = pixels._int8
    dequantized = (quantized.values.double() *
                   quantized.scales[:, None].double()).transpose(
                       1, 2).reshape(features.shape)
    expected_pool = hard_mask_pool(dequantized, mask_logits.double(), 0.5)
    torch.testing.assert_close(
        got_pool.double(), expected_pool, rtol=1e-6 if dtype ==
        torch.float32 else 1e-2, atol=1e-6)
    if num_queries == 0:
        return
    # mask logits: int8 noise, not another function
    exact = torch.einsum('bnc,bchw->bnhw', queries.float(), features.float())
    rel = float((got_masks.float() - exact).norm() / exact.norm())
    assert rel < 0.02, rel
    agree = ((got_masks.float() > 0) == (exact > 0)).float().mean()
    assert agree > 0.98, agree


@needs_int8
def test_int8_attention_reads_the_map_in_full_precision():
    features = _map()
    pixels = PixelFeatures(features, 'int8')
    onednn = PixelFeatures(features, 'onednn')
    full = pixels.full_precision
    assert full.kernel == 'onednn' and full.tensor is features
    assert pixels.full_precision is full  # made once
    assert onednn.full_precision is onednn
    queries = torch.randn(2, 5, 32)
    weights = torch.randn(2, 5, 23 * 37).softmax(-1)
    assert torch.equal(full.mask_logits(queries), onednn.mask_logits(queries))
    # weighted sums that are not masks: the map's own, not int8
    assert torch.equal(pixels.weighted_sum(weights),
                       onednn.weighted_sum(weights))


@needs_int8
def test_int8_products_take_no_gradient():
    features = _map().requires_grad_()
    pixels = PixelFeatures(features, 'int8')
    queries = torch.randn(2, 3, 32)
    with pytest.raises(RuntimeError, match="no gradient.*'int8'"):
        pixels.mask_logits(queries)
    with pytest.raises(RuntimeError, match="no gradient.*'int8'"):
        pixels.pool(torch.randn(2, 3, 23, 37))
    with torch.no_grad():
        assert pixels.mask_logits(queries).shape == (2, 3, 23, 37)


def test_int8_products_need_a_cpu_map():
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match='CPU'):
            Int8Pixels(torch.randn(1, 8, 4, 4, device='cuda'))
    assert not int8_products_available(torch.zeros(1, device='meta'))


@needs_int8
def test_int8_products_of_a_factored_map_quantize_its_basis():
    torch.manual_seed(0)
    factored = FactoredMap(_map(), torch.randn(48, 32))
    full = factored.materialize()
    pixels = PixelFeatures(factored, 'int8')
    assert pixels._int8.values.shape == (2, 23 * 37, 32)
    queries = torch.randn(2, 10, 48)
    exact = torch.einsum('bnc,bchw->bnhw', queries, full)
    got = pixels.mask_logits(queries)
    rel = float((got - exact).norm() / exact.norm())
    assert rel < 0.02, rel
    # pooling: the exact sums of the quantized basis, projected
    mask_logits = torch.randn(2, 10, 23, 37)
    quantized = pixels._int8
    dequantized = (quantized.values.double() *
                   quantized.scales[:, None].double()).transpose(
                       1, 2).reshape(factored.basis.shape)
    expected = hard_mask_pool(dequantized, mask_logits.double(),
                              0.5) @ factored.weight.double().t()
    torch.testing.assert_close(pixels.pool(mask_logits).double(), expected,
                               rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize('pixels', [851, 384, 96, 36])
@pytest.mark.parametrize('contiguous', [True, False])
def test_channel_ranges_reduced_in_groups_of_pixels_are_exact(
        pixels, contiguous):
    from rap_sam.models.heads.int8_pixels import _column_absmax
    torch.manual_seed(0)
    rows = torch.randn(pixels, 40) * torch.logspace(-2, 2, 40)
    if not contiguous:
        rows = rows.t().contiguous().t()
    assert torch.equal(_column_absmax(rows), rows.abs().amax(0))
