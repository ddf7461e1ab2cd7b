"""The lite deformable FPN and its torchvision-based deformable conv."""
import pytest
import torch

from rap_sam.models import LiteDeformFPN, ModulatedDeformConv2d
from rap_sam.models.layers import FactoredMap


def test_deform_conv_matches_mmcv_compiled_op():
    mmcv_ops = pytest.importorskip('mmcv.ops')
    torch.manual_seed(0)
    ours = ModulatedDeformConv2d(8, 6)
    torch.nn.init.normal_(ours.offset_conv.weight, std=0.3)
    theirs = mmcv_ops.ModulatedDeformConv2dPack(8, 6, 3, padding=1,
                                                bias=False)
    theirs.weight.data.copy_(ours.weight.data)
    theirs.conv_offset.weight.data.copy_(ours.offset_conv.weight.data)
    theirs.conv_offset.bias.data.copy_(ours.offset_conv.bias.data)
    x = torch.randn(2, 8, 11, 13)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-4)


def test_zero_offsets_reduce_to_a_half_weighted_conv():
    conv = ModulatedDeformConv2d(4, 5)
    x = torch.randn(1, 4, 9, 9)
    expected = torch.nn.functional.conv2d(x, conv.weight, padding=1) * 0.5
    torch.testing.assert_close(conv(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('size', [(64, 96), (97, 131)])
def test_fpn_fuses_all_levels_into_one_stride4_map(size):
    neck = LiteDeformFPN(in_channels=[8, 16, 32, 64], agg_channels=16,
                         out_channels=24)
    h, w = size
    strides = [4, 8, 16, 32]
    feats = [torch.randn(2, c, -(-h // s), -(-w // s), requires_grad=True)
             for c, s in zip([8, 16, 32, 64], strides)]
    (out, ) = neck(feats)
    assert out.shape == (2, 24, feats[0].shape[2], feats[0].shape[3])
    out.sum().backward()
    assert all(f.grad.abs().sum() > 0 for f in feats)


def _small_neck():
    """An eval-mode neck with a non-zero coord_conv bias, and its 4 levels
    for a 24x40 stride-4 map."""
    torch.manual_seed(0)
    neck = LiteDeformFPN(in_channels=[8, 16, 32, 64], agg_channels=16,
                         out_channels=24).eval()
    torch.nn.init.normal_(neck.coord_conv.bias)
    feats = [torch.randn(2, c, 24 // s, 40 // s)
             for c, s in zip([8, 16, 32, 64], [1, 2, 4, 8])]
    return neck, feats


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_channels_last_fpn_gives_the_same_map(dtype):
    """The map is the 1x1 conv of cat([fused, coords]) in either layout;
    an fp32 channels-last run keeps the layout (the decoder packs it),
    every other run gives an NCHW-contiguous map."""
    neck, feats = _small_neck()
    with torch.no_grad():
        fused = neck.output_conv(torch.randn(2, 16, 24, 40))
        expected = neck.coord_conv(
            torch.cat([fused, neck.coord_channels(fused)], 1))
        with torch.autocast('cpu', torch.bfloat16,
                            enabled=dtype == torch.bfloat16):
            plain = neck._coord_projection(fused.to(dtype))
            channels_last = neck._coord_projection(
                fused.to(dtype).contiguous(memory_format=torch.channels_last))
        (whole, ) = neck.to(memory_format=torch.channels_last)([
            f.to(memory_format=torch.channels_last) for f in feats])
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(
        rtol=2e-2, atol=2e-2)
    for got in (plain, channels_last):
        assert got.dtype == dtype
        torch.testing.assert_close(got.float(), expected, **tol)
    assert plain.is_contiguous()
    assert channels_last.is_contiguous() == (dtype != torch.float32)
    assert whole.is_contiguous(memory_format=torch.channels_last)


def test_fpn_rejects_wrong_number_of_levels():
    with pytest.raises(ValueError, match='4 input levels'):
        LiteDeformFPN(in_channels=[8, 16, 32])


def test_coordinate_channels_span_minus_one_to_one():
    coords = LiteDeformFPN.coord_channels(torch.zeros(1, 3, 5, 7))
    assert coords.shape == (1, 2, 5, 7)
    assert coords[0, 0, 0, 0] == -1 and coords[0, 0, 0, -1] == 1
    assert coords[0, 1, 0, 0] == -1 and coords[0, 1, -1, 0] == 1


@pytest.mark.parametrize('impl', ['grid_sample', 'gather'])
@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('bias', [False, True])
def test_deform_kernels_match_torchvision(impl, channels_last, bias):
    """Values and gradients, with offsets that leave the image (zero
    padding), in the layout of the input."""
    torch.manual_seed(0)
    tv = ModulatedDeformConv2d(6, 5, bias=bias)
    torch.nn.init.normal_(tv.offset_conv.weight, std=0.5)
    if bias:
        torch.nn.init.normal_(tv.bias)
    ours = ModulatedDeformConv2d(6, 5, bias=bias, impl=impl)
    ours.load_state_dict(tv.state_dict())
    x = torch.randn(2, 6, 9, 12)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    outs, grads = [], []
    for conv in (tv, ours):
        inputs = x.detach().requires_grad_()
        out = conv(inputs)
        out.square().sum().backward()
        outs.append(out)
        grads.append([inputs.grad] + [p.grad for p in conv.parameters()])
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-4, atol=1e-4)
    for got, expected in zip(grads[1], grads[0]):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    if impl == 'gather':
        assert outs[1].is_contiguous(memory_format=torch.channels_last) \
            if channels_last else outs[1].is_contiguous()


def test_gather_kernel_in_bf16_autocast():
    """bf16 rounds the input and the offsets: the gather kernel stays
    closer to fp32 than the grid_sample one (3-4x on this case)."""
    torch.manual_seed(0)
    gather = ModulatedDeformConv2d(16, 8, impl='gather')
    torch.nn.init.normal_(gather.offset_conv.weight, std=0.3)
    grid = ModulatedDeformConv2d(16, 8, impl='grid_sample')
    reference = ModulatedDeformConv2d(16, 8)
    for conv in (grid, reference):
        conv.load_state_dict(gather.state_dict())
    x = torch.randn(1, 16, 20, 30)
    errors = []
    with torch.no_grad():
        expected = reference(x)
        for conv in (gather, grid):
            with torch.autocast('cpu', torch.bfloat16):
                got = conv(x.bfloat16())
            assert got.dtype == torch.bfloat16
            errors.append((got.float() - expected).abs())
    assert errors[0].mean() < 0.005 * expected.abs().max()
    assert errors[0].mean() < errors[1].mean()
    assert errors[0].max() < errors[1].max()


def test_auto_deform_impl_is_gather_on_cpu():
    conv = ModulatedDeformConv2d(4, 4, impl='auto')
    x = torch.randn(1, 4, 6, 7)
    calls = []
    conv._gather_forward = lambda *a: calls.append(1) or torch.zeros(1)
    conv(x)
    assert calls == [1]
    # traced (ONNX export), it is the kernel of standard ops
    del conv._gather_forward
    graph = torch.jit.trace(conv, x).graph
    kinds = {node.kind() for node in graph.nodes()}
    assert 'aten::grid_sampler' in kinds and 'aten::embedding_bag' not in kinds


def test_unknown_deform_impl_is_refused():
    with pytest.raises(ValueError, match='impl'):
        ModulatedDeformConv2d(4, 4, impl='cuda')


@pytest.mark.parametrize('channels_last', [False, True])
def test_factored_map_stands_for_the_necks_map(channels_last):
    """factored=True: the fused map plus a constant, the coordinates and
    zero padding to a multiple of 8 channels, with coord_conv's columns;
    its product is forward's map, in the same layout."""
    neck, feats = _small_neck()
    if channels_last:
        neck = neck.to(memory_format=torch.channels_last)
        feats = [f.contiguous(memory_format=torch.channels_last)
                 for f in feats]
    with torch.no_grad():
        (expected, ) = neck(feats)
        (factored, ) = neck(feats, factored=True)
    assert isinstance(factored, FactoredMap)
    assert factored.shape == expected.shape == (2, 24, 24, 40)
    basis = factored.basis
    assert basis.shape == (2, 24, 24, 40)  # 16 + 3 channels, padded to 24
    assert basis.is_contiguous(
        memory_format=torch.channels_last) == channels_last
    assert torch.equal(basis[:, 16], torch.ones(2, 24, 40))
    coords = neck.coord_channels(basis)
    assert torch.equal(basis[:, 17:19], coords)
    assert not basis[:, 19:].any()
    got = factored.materialize()
    assert got.is_contiguous(
        memory_format=torch.channels_last) == channels_last
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_factored_map_shape_dtype_and_basis_changes():
    basis = torch.randn(2, 8, 5, 7)
    weight = torch.randn(12, 8)
    factored = FactoredMap(basis, weight)
    assert factored.shape == (2, 12, 5, 7)
    assert factored.dtype == torch.float32
    expected = torch.einsum('ck,bkhw->bchw', weight, basis)
    torch.testing.assert_close(factored.materialize(), expected)
    half = factored.to(torch.bfloat16)
    assert half.dtype == torch.bfloat16 and half.weight is weight
    flipped = factored.map_basis(lambda t: t.flip(-1))
    torch.testing.assert_close(flipped.materialize(), expected.flip(-1))
    with pytest.raises(ValueError, match=r'\(C, K\) weight projects'):
        FactoredMap(basis, torch.randn(12, 9))
    torch.testing.assert_close(factored[1:2].materialize(), expected[1:2])
    with pytest.raises(TypeError, match='a slice of its images'):
        factored[0]
