"""Int8Conv2d: oneDNN's int8 convolution on its input quantized per call."""
import pytest
import torch
import torch.nn.functional as F

from rap_sam.inference import int8_conv
from rap_sam.inference.int8_conv import Int8Conv2d, _quantize_uint8

pytestmark = pytest.mark.skipif(
    not int8_conv.int8_conv_available(),
    reason='this PyTorch has no oneDNN int8 convolution')


def _conv(*args, **kwargs):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(*args, **kwargs).eval()
    if conv.bias is not None:
        torch.nn.init.normal_(conv.bias, std=0.1)
    return conv.requires_grad_(False)


def _rel(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm())


def test_int8_conv_is_the_conv_of_the_quantized_operands():
    """Equal, up to fp32 rounding of the int32 sums' scaling, to the
    float64 convolution of the dequantized input and weights: the
    padding is the zero point (0 exactly), the borders included."""
    conv = _conv(16, 24, 3, padding=1)
    x = torch.randn(1, 16, 20, 28) * 3 + 1  # not centred on 0
    got = Int8Conv2d(conv)(x)
    q, scale, zero_point = _quantize_uint8(
        x.contiguous(memory_format=torch.channels_last))
    assert q.dtype == torch.uint8 and q.shape == x.shape
    x_deq = scale.double() * (q.double() - zero_point.double())
    assert float((x_deq - x.double()).abs().max()) <= float(scale) / 2 * 1.01
    w = conv.weight.detach().double()
    w_scales = w.abs().amax((1, 2, 3), keepdim=True) / 127
    w_deq = torch.round(w / w_scales).clamp(-127, 127) * w_scales
    ref = F.conv2d(x_deq, w_deq, conv.bias.double(), padding=1)
    assert _rel(got, ref) < 1e-5
    # border pixels alike
    assert _rel(got[..., 0, :], ref[..., 0, :]) < 1e-5
    assert _rel(got[..., :, -1], ref[..., :, -1]) < 1e-5


@pytest.mark.parametrize('layout', ['nchw', 'channels_last'])
def test_int8_conv_is_near_the_float_conv(layout):
    for conv, size in ((_conv(32, 32, 3, padding=1), (2, 32, 24, 40)),
                       (_conv(32, 48, 1), (1, 32, 9, 11)),
                       (_conv(16, 8, 3, stride=2, padding=1, bias=False),
                        (1, 16, 15, 17))):
        x = torch.randn(size)
        if layout == 'channels_last':
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            ref = conv(x)
        got = Int8Conv2d(conv)(x)
        assert got.shape == ref.shape and got.dtype == torch.float32
        assert got.is_contiguous(memory_format=torch.channels_last)
        assert _rel(got, ref) < 0.03  # int8 noise, not another function


def test_int8_conv_keeps_a_bf16_input_dtype_and_zero_inputs():
    conv = _conv(8, 8, 3, padding=1)
    x = torch.randn(1, 8, 10, 12)
    got = Int8Conv2d(conv)(x.bfloat16())
    assert got.dtype == torch.bfloat16
    with torch.no_grad():
        assert _rel(got.float(), conv(x)) < 0.03
    zeros = Int8Conv2d(conv)(torch.zeros(1, 8, 10, 12))
    bias = conv.bias.detach()[None, :, None, None].expand_as(zeros)
    torch.testing.assert_close(zeros, bias.contiguous())


def test_int8_conv_errors(monkeypatch):
    with pytest.raises(ValueError, match='groups 1'):
        Int8Conv2d(torch.nn.Conv2d(8, 8, 3, groups=2))
    with pytest.raises(ValueError, match='zero padding'):
        Int8Conv2d(torch.nn.Conv2d(8, 8, 3, padding='same'))
    monkeypatch.setattr(int8_conv, 'int8_conv_available', lambda: False)
    with pytest.raises(RuntimeError, match='no oneDNN int8 convolution'):
        Int8Conv2d(torch.nn.Conv2d(8, 8, 3))
