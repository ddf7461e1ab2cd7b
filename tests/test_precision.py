"""bf16 / fp16 inference: where it runs, what it falls back to."""
import warnings

import numpy as np
import pytest
import torch

from rap_sam.inference import RapSAMPredictor, build_model, resolve_precision
from rap_sam.inference import precision as precision_module
from rap_sam.models.heads import PackedPixelKV

R18 = 'configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py'


@pytest.fixture(scope='module')
def model():
    from conftest import REPO
    torch.manual_seed(0)
    return build_model(str(REPO / R18), random_weights=True)


def test_fallbacks(monkeypatch):
    assert resolve_precision('fp32') == 'fp32'
    with pytest.raises(ValueError, match='precision must be one of'):
        resolve_precision('int4')
    with pytest.warns(UserWarning, match='fp16 is slow on CPUs'):
        assert resolve_precision('fp16', 'cpu') == 'fp32'
    monkeypatch.setattr(precision_module, 'cpu_supports_bf16', lambda: False)
    with pytest.warns(UserWarning, match='no native bf16'):
        assert resolve_precision('bf16', 'cpu') == 'fp32'
    assert resolve_precision('fp16', 'cuda:0') == 'fp16'


@pytest.mark.skipif(not precision_module.cpu_supports_bf16(),
                    reason='this CPU has no native bf16')
def test_bf16_predictor_runs_in_bf16_and_answers_in_fp32(model):
    image = np.random.default_rng(0).integers(0, 255, (90, 120, 3), np.uint8)
    pred = RapSAMPredictor(model, scale=(160, 128), precision='bf16')
    pred.set_image(image)
    assert pred.features.dtype == torch.bfloat16
    out = pred.predict(points=[[50, 40]], boxes=[[10, 10, 80, 70]])
    assert out['masks'].shape == (1, 90, 120) and out['masks'].dtype == bool
    assert out['iou_scores'].dtype == np.float32
    pred.predict(points=[[60, 40]])  # a re-prompt caches keys / values
    kv = pred._prompt_kv  # packed for oneDNN where the CPU has it
    kv_dtype = kv.dtype if isinstance(kv, PackedPixelKV) else kv[0].dtype
    assert kv_dtype == torch.bfloat16  # half the bytes
    pan = pred.panoptic()['panoptic_seg']
    assert pan.shape == (90, 120)
    # the post-processing itself runs in fp32
    fusion = model.panoptic_fusion_head
    with torch.autocast('cpu', torch.bfloat16):
        sample = model.predict_from_feats((pred.features, ), [pred._sample()])
    assert sample[0].pred_instances.scores.dtype == torch.float32
    assert fusion.options.panoptic_on


def test_native_bf16_slower_than_fp32_warns_and_int8_keeps_fp32(
        monkeypatch):
    """Native bf16 without AMX (an Intel Xeon with AVX512-BF16 only) runs
    bf16 slower than fp32: bf16 still runs where asked, with a warning,
    and int8 runs the rest of the model in fp32."""
    monkeypatch.setattr(precision_module, 'cpu_supports_bf16', lambda: True)
    monkeypatch.setattr(precision_module, 'bf16_speedup', lambda: 0.55)
    with pytest.warns(UserWarning, match='0.55x the speed of fp32'):
        assert resolve_precision('bf16', 'cpu') == 'bf16'
    assert precision_module.precision_dtype('int8') == torch.float32
    assert isinstance(precision_module.autocast('int8'),
                      type(precision_module.autocast('fp32')))
    monkeypatch.setattr(precision_module, 'bf16_speedup', lambda: 1.9)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert resolve_precision('bf16', 'cpu') == 'bf16'
    assert precision_module.precision_dtype('int8') == torch.bfloat16
    with precision_module.autocast('int8'):
        assert torch.get_autocast_dtype('cpu') == torch.bfloat16
        assert torch.is_autocast_enabled('cpu')


def test_bf16_speedup_is_measured_once():
    speedup = precision_module.bf16_speedup()
    if not precision_module.cpu_supports_bf16():
        assert speedup == 0.
        return
    # a ratio of two timings of the same convolution: positive, finite
    assert 0. < speedup < 1e3
    assert precision_module.bf16_speedup() is speedup  # cached


def test_int8_warns_where_bf16_is_faster(monkeypatch):
    """With AMX, bf16 runs the model faster than int8 (whose backbone runs
    in ONNX Runtime): int8 runs where asked, with a warning; elsewhere it
    runs without one."""
    from rap_sam.inference import int8_backbone
    monkeypatch.setattr(int8_backbone, 'onnxruntime_available', lambda: True)
    monkeypatch.setattr(int8_backbone, 'cpu_supports_vnni', lambda: True)
    monkeypatch.setattr(precision_module, 'bf16_speedup', lambda: 5.9)
    with pytest.warns(UserWarning, match='5.9x the speed of fp32 .AMX.: '
                      'precision bf16 runs faster here'):
        assert resolve_precision('int8', 'cpu') == 'int8'
    for speedup in (0., 0.55, 1.9):
        monkeypatch.setattr(precision_module, 'bf16_speedup',
                            lambda s=speedup: s)
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            assert resolve_precision('int8', 'cpu') == 'int8'
