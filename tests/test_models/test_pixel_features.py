"""PixelFeatures: the decoder's products with the map, through torch or
oneDNN, unpacked or packed."""
import math

import pytest
import torch
import torch.nn.functional as F

from rap_sam.models.heads import (PixelFeatures, PromptAdapter,
                                  decoder_features, hard_mask_pool)
from rap_sam.models.heads.pixel_features import onednn_packing_available
from rap_sam.models.layers import FactoredMap

needs_onednn = pytest.mark.skipif(
    not onednn_packing_available(torch.zeros(1)),
    reason='oneDNN linear packing is not available in this torch build')


@needs_onednn
@pytest.mark.parametrize('kernel', ['onednn', 'packed'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
@pytest.mark.parametrize('num_queries', [0, 1, 10, 110])
def test_onednn_products_equal_the_plain_ones(kernel, dtype, num_queries):
    torch.manual_seed(0)
    features = torch.randn(2, 32, 23, 37).to(dtype)
    queries = torch.randn(2, num_queries, 32).to(dtype)
    mask_logits = torch.randn(2, num_queries, 23, 37)
    plain, packed = PixelFeatures(features), PixelFeatures(features, kernel)
    assert packed.packed == (kernel == 'packed') and not plain.packed
    expected_masks = torch.einsum('bnc,bchw->bnhw', queries, features)
    expected_pool = hard_mask_pool(features, mask_logits, 0.5)
    got_masks = packed.mask_logits(queries)
    got_pool = packed.pool(mask_logits, 0.5)
    assert got_masks.shape == expected_masks.shape
    assert got_masks.dtype == expected_masks.dtype == dtype
    assert got_pool.shape == expected_pool.shape == (2, num_queries, 32)
    assert torch.equal(plain.mask_logits(queries), expected_masks)
    assert torch.equal(plain.pool(mask_logits, 0.5), expected_pool)
    if dtype == torch.bfloat16:
        # the same oneDNN kernels accumulate in fp32 either way
        assert torch.equal(got_masks, expected_masks)
        assert torch.equal(got_pool, expected_pool)
    else:
        # fp32 sums of up to 851 products in another order
        torch.testing.assert_close(got_masks, expected_masks, rtol=1e-5,
                                   atol=1e-4)
        torch.testing.assert_close(got_pool, expected_pool, rtol=1e-5,
                                   atol=1e-4)


@needs_onednn
@pytest.mark.parametrize('kernel', ['onednn', 'packed'])
def test_onednn_queries_are_cast_to_the_map_dtype(kernel):
    features = torch.randn(1, 16, 8, 8).bfloat16()
    queries = torch.randn(1, 3, 16)
    got = PixelFeatures(features, kernel).mask_logits(queries)
    assert got.dtype == torch.bfloat16
    assert torch.equal(
        got, torch.einsum('bnc,bchw->bnhw', queries.bfloat16(), features))


@pytest.mark.parametrize('kernel', ['onednn', 'packed'])
def test_onednn_on_a_map_it_cannot_read_is_an_error(kernel):
    with pytest.raises(ValueError, match='fp32 or bf16'):
        PixelFeatures(torch.randn(1, 8, 4, 4).half(), kernel)


def test_an_unknown_kernel_is_an_error():
    with pytest.raises(ValueError, match="kernel must be one of.*'mkl'"):
        PixelFeatures(torch.randn(1, 8, 4, 4), 'mkl')


def test_pool_threshold_outside_0_1_is_an_error():
    with pytest.raises(ValueError, match='threshold'):
        PixelFeatures(torch.randn(1, 8, 4, 4)).pool(
            torch.randn(1, 2, 4, 4), 1.5)


@needs_onednn
def test_decoder_features_use_onednn_for_fp32_and_bf16_maps():
    features = torch.randn(1, 8, 6, 5).contiguous(
        memory_format=torch.channels_last)
    with torch.no_grad():
        fp32 = decoder_features(features)
        with torch.autocast('cpu', torch.bfloat16):
            bf16 = decoder_features(features)
        half = decoder_features(features.half())
    with torch.enable_grad():
        training = decoder_features(features)
    assert fp32.kernel == bf16.kernel == training.kernel == 'onednn'
    assert half.kernel == 'torch'
    assert bf16.dtype == torch.bfloat16
    # torch's products read NCHW; oneDNN reads either layout, kept as given
    assert half.tensor.is_contiguous()
    assert fp32.tensor is features and training.tensor is features
    assert bf16.tensor.is_contiguous(memory_format=torch.channels_last)
    assert decoder_features(fp32) is fp32
    assert decoder_features(features, 'packed').packed


@needs_onednn
@pytest.mark.parametrize('kernel', ['onednn', 'packed'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_a_channels_last_map_gives_the_same_products(kernel, dtype):
    torch.manual_seed(0)
    features = torch.randn(2, 32, 23, 37).to(dtype)
    queries = torch.randn(2, 10, 32).to(dtype)
    mask_logits = torch.randn(2, 10, 23, 37)
    nchw = PixelFeatures(features, kernel)
    nhwc = PixelFeatures(
        features.contiguous(memory_format=torch.channels_last), kernel)
    assert torch.equal(nhwc.mask_logits(queries), nchw.mask_logits(queries))
    assert torch.equal(nhwc.pool(mask_logits), nchw.pool(mask_logits))


@needs_onednn
@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_onednn_gradients_equal_torchs(dtype, channels_last):
    torch.manual_seed(0)
    features = torch.randn(2, 32, 23, 37).to(dtype)
    if channels_last:
        features = features.contiguous(memory_format=torch.channels_last)
    queries = torch.randn(2, 10, 32).to(dtype)
    weights = torch.randn(2, 7, 23 * 37).to(dtype)
    mask_logits = torch.randn(2, 10, 23, 37)
    up_logits = torch.randn(2, 10, 23, 37).to(dtype)
    up_sums = torch.randn(2, 7, 32).to(dtype)
    up_pool = torch.randn(2, 10, 32).to(dtype)

    def grads(kernel):
        leaves = [
            t.clone().requires_grad_() for t in (features, queries, weights)
        ]
        pixels = PixelFeatures(
            leaves[0] if kernel == 'onednn' else leaves[0].contiguous(),
            kernel)
        loss = ((pixels.mask_logits(leaves[1]) * up_logits).sum() +
                (pixels.weighted_sum(leaves[2]) * up_sums).sum() +
                (pixels.pool(mask_logits) * up_pool).sum())
        loss.backward()
        return [leaf.grad for leaf in leaves]

    expected, got = grads('torch'), grads('onednn')
    for a, b in zip(got, expected):
        assert a.dtype == b.dtype == dtype
        if dtype == torch.bfloat16:  # rounded once to bf16 after the sums
            torch.testing.assert_close(a.float(), b.float(), rtol=0.02,
                                       atol=0.05)
        else:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)


@needs_onednn
def test_packed_products_take_no_gradient():
    features = torch.randn(1, 8, 5, 5, requires_grad=True)
    queries = torch.randn(1, 3, 8)
    pixels = PixelFeatures(features, 'packed')
    assert not pixels.mask_logits(queries).requires_grad
    with pytest.raises(RuntimeError, match="'onednn' or 'torch' kernel"):
        pixels.mask_logits(queries.requires_grad_())


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5),
                                       (torch.bfloat16, 0.02)])
def test_attend_cached_is_scaled_dot_product_attention(dtype, tol):
    """At the size of a 1024x1024 image's stride-4 map, with the values
    in pixel_kv's eval layout."""
    torch.manual_seed(0)
    adapter = PromptAdapter(256, 8).eval()
    features = torch.randn(1, 256, 64, 1024)
    queries = torch.randn(1, 8, 10, 32).to(dtype)
    with torch.no_grad(), torch.autocast(
            'cpu', torch.bfloat16, enabled=dtype == torch.bfloat16):
        keys, values = adapter.pixel_kv(features)
        assert values.transpose(2, 3).is_contiguous()
        expected = F.scaled_dot_product_attention(
            queries.float(), keys.float(), values.float())
        got = adapter.attend_cached(queries, keys, values)
    assert got.dtype == keys.dtype == dtype
    assert (got.float() - expected).abs().max() <= \
        tol * expected.abs().max()


@needs_onednn
def test_traced_decoder_products_stay_portable():
    features, queries = torch.randn(1, 8, 6, 5), torch.randn(1, 3, 8)

    def products(x):
        return decoder_features(x).mask_logits(queries)

    with torch.no_grad():
        assert decoder_features(features).kernel == 'onednn'
        traced = torch.jit.trace(products, features)
    assert 'mkldnn' not in str(traced.graph)
    torch.testing.assert_close(traced(features), products(features))


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
@pytest.mark.parametrize('threshold', [0.5, 0.3])
def test_binary_masks_are_the_thresholded_probabilities(dtype, threshold):
    from rap_sam.models.heads.mask_pooling import binary_masks
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7, 9).to(dtype)
    logits[0, 0, 0] = 0.  # ties and signed zeros are below the threshold
    logits[0, 1, 0] = -0.
    logit = math.log(threshold / (1 - threshold))
    got = binary_masks(logits, threshold, dtype)
    # sigmoid(x) > threshold, i.e. x > logit(threshold)
    expected = (logits.double() > logit).to(dtype).flatten(2)
    assert 0 < expected.mean() < 1
    assert got.dtype == dtype and got.shape == (2, 5, 63)
    assert torch.equal(got, expected)
    assert torch.equal(binary_masks(logits, threshold, torch.float32),
                       expected.float())


@needs_onednn
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
@pytest.mark.parametrize('num_prompts', [1, 10])
def test_packed_pixel_kv_attends_as_the_cached_matmuls(dtype, num_prompts):
    from rap_sam.models.heads import PackedPixelKV
    torch.manual_seed(0)
    adapter = PromptAdapter(64, 4).eval()
    features = torch.randn(2, 64, 30, 41).to(dtype)
    queries = torch.randn(2, 4, num_prompts, 16).to(dtype)
    with torch.no_grad(), torch.autocast(
            'cpu', torch.bfloat16, enabled=dtype == torch.bfloat16):
        keys, values = adapter.pixel_kv(features)
        expected = adapter.attend_cached(queries, keys, values)
        got = PackedPixelKV(keys, values).attend(queries)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    if dtype == torch.bfloat16:
        assert torch.equal(got, expected)
    else:
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@needs_onednn
def test_prompt_adapter_with_packed_pixel_kv():
    from rap_sam.models.heads import PackedPixelKV
    torch.manual_seed(0)
    adapter = PromptAdapter(64, 4).eval()
    features = torch.randn(1, 64, 30, 41)
    kernels = torch.randn(1, 20, 64)  # 4 heads x 20 prompts > 64 dims
    with torch.no_grad():
        kv = adapter.pixel_kv(features)
        expected = adapter(features, kernels, kv)
        got = adapter(features, kernels, PackedPixelKV(*kv))
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_packing_pixel_kv_it_cannot_is_an_error():
    from rap_sam.models.heads import PackedPixelKV
    keys = torch.randn(1, 2, 6, 4).half()
    with pytest.raises(ValueError, match='fp32 or bf16'):
        PackedPixelKV(keys, keys)


def _factored(dtype=torch.float32):
    torch.manual_seed(0)
    basis = torch.randn(2, 24, 23, 37).to(dtype)
    weight = torch.randn(40, 24)
    return FactoredMap(basis, weight)


@pytest.mark.parametrize('kernel', [
    'torch',
    pytest.param('onednn', marks=needs_onednn),
    pytest.param('packed', marks=needs_onednn)
])
@pytest.mark.parametrize('num_queries', [0, 1, 10])
def test_a_factored_map_gives_the_products_of_its_map(kernel, num_queries):
    """Queries projected onto the basis and sums projected back: the
    products of the materialized map, up to the order of the sums."""
    factored = _factored()
    full = factored.materialize()
    queries = torch.randn(2, num_queries, 40)
    mask_logits = torch.randn(2, num_queries, 23, 37)
    weights = torch.randn(2, num_queries, 23 * 37).softmax(-1)
    pixels = PixelFeatures(factored, kernel)
    plain = PixelFeatures(full)
    assert pixels.shape == full.shape == (2, 40, 23, 37)
    assert pixels.basis is factored.basis
    tol = dict(rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(pixels.mask_logits(queries),
                               plain.mask_logits(queries), **tol)
    torch.testing.assert_close(pixels.pool(mask_logits),
                               plain.pool(mask_logits), **tol)
    torch.testing.assert_close(pixels.weighted_sum(weights),
                               plain.weighted_sum(weights), **tol)
    linear, bias = torch.randn(6, 40), torch.randn(6)
    torch.testing.assert_close(pixels.linear(linear, bias),
                               plain.linear(linear, bias), **tol)
    torch.testing.assert_close(pixels.tensor, full)
    assert pixels.tensor is pixels.tensor  # computed once
    other = pixels.with_kernel('torch')
    assert other.kernel == 'torch' and other.projection is factored.weight


@needs_onednn
def test_decoder_features_keep_a_factored_map_factored():
    factored = _factored()
    pixels = decoder_features(factored)
    assert pixels.kernel == 'onednn'
    assert pixels.projection is factored.weight
    with torch.autocast('cpu', torch.bfloat16):
        half = decoder_features(factored)
    assert half.dtype == torch.bfloat16
    assert half.projection.dtype == torch.float32
    queries = torch.randn(2, 3, 40)
    with torch.autocast('cpu', torch.bfloat16):
        got = half.mask_logits(queries)
    expected = torch.einsum('bnc,bchw->bnhw', queries,
                            factored.materialize())
    assert got.dtype == torch.bfloat16
    rel = float((got.float() - expected).norm() / expected.norm())
    assert rel < 1e-2, rel


@needs_onednn
def test_prompt_adapter_keys_and_values_of_a_factored_map():
    factored = _factored()
    adapter = PromptAdapter(embed_dims=40, num_heads=4).eval()
    for expected, got in zip(adapter.pixel_kv(factored.materialize()),
                             adapter.pixel_kv(PixelFeatures(factored))):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
