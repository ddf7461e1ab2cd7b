"""int8 inference: the backbone as a calibrated ONNX Runtime int8 graph."""
import warnings

import numpy as np
import pytest
import torch

from rap_sam.inference import (Int8Backbone, RapSAMPredictor, build_model,
                               image_files, resolve_precision)
from rap_sam.inference import int8_backbone

R18 = 'configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py'
needs_ort = pytest.mark.skipif(
    not int8_backbone.onnxruntime_available(),
    reason='onnxruntime is not installed (requirements/optional.txt)')


def _model():
    from conftest import REPO
    torch.manual_seed(0)
    return build_model(str(REPO / R18), random_weights=True)


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (12, 16, 3), np.uint8)
    # smooth images with structure, not white noise
    return [np.kron(np.roll(base, k, 0), np.ones((8, 8, 1), np.uint8))
            for k in range(n)]


def test_int8_fallbacks(monkeypatch):
    with pytest.warns(UserWarning, match='CPU only'):
        assert resolve_precision('int8', 'cuda:0') == 'fp32'
    monkeypatch.setattr(int8_backbone, 'onnxruntime_available',
                        lambda: False)
    with pytest.warns(UserWarning, match='onnxruntime is not installed'):
        assert resolve_precision('int8', 'cpu') == 'fp32'
    monkeypatch.setattr(int8_backbone, 'onnxruntime_available', lambda: True)
    monkeypatch.setattr(int8_backbone, 'cpu_supports_vnni', lambda: False)
    with pytest.warns(UserWarning, match='no int8 dot products'):
        assert resolve_precision('int8', 'cpu') == 'fp32'


@needs_ort
def test_int8_backbone_matches_fp32_and_takes_any_size():
    model = _model()
    backbone = model.backbone
    calibration = [torch.randn(1, 3, 96, 128) for _ in range(3)]
    int8 = Int8Backbone(backbone, calibration)
    assert not list(int8.parameters())  # the weights live in the graph
    # its threads do not spin on the cores PyTorch runs on next
    assert int8.session.get_session_options().get_session_config_entry(
        'session.intra_op.allow_spinning') == '0'
    x = torch.randn(2, 3, 64, 160)  # another batch size and size
    with torch.no_grad():
        ref = backbone(x)
    got = int8(x)
    assert len(got) == len(ref)
    for a, b in zip(got, ref):
        assert a.shape == b.shape and a.dtype == torch.float32
        rel = float((a - b).norm() / b.norm())
        assert rel < 0.05, rel  # int8 noise, not another function
    with pytest.raises(ValueError, match='needs calibration images'):
        Int8Backbone(backbone, [])
    with pytest.raises(ValueError, match=r'\(1, 3, H, W\)'):
        Int8Backbone(backbone, [torch.randn(3, 64, 64)])


@needs_ort
def test_int8_predictor(tmp_path, monkeypatch):
    if resolve_precision('int8') != 'int8':
        pytest.skip('int8 cannot run on this CPU')
    model = _model()
    images = _images(4)
    fp32 = RapSAMPredictor(model, scale=(128, 96))
    fp32.set_image(images[0])
    ref = fp32.predict(points=[[60, 40]])
    ref_features = fp32.features.clone()
    with pytest.raises(ValueError, match='needs calibration_images'):
        RapSAMPredictor(model, scale=(128, 96), precision='int8')
    pred = RapSAMPredictor(model, scale=(128, 96), precision='int8',
                           calibration_images=images[1:])
    assert isinstance(model.backbone, Int8Backbone)  # replaced in place
    pred.set_image(images[0])
    cos = torch.nn.functional.cosine_similarity(
        pred.features.float().flatten(), ref_features.flatten(), dim=0)
    assert cos > 0.99, cos
    # the decoder's products with the map in int8, from the first pass on
    # and for every re-prompt (not repacked in fp32)
    assert model.panoptic_head.pixel_kernel == 'int8'
    assert pred.pixels.kernel == 'int8'
    # the neck's 3x3 conv at stride 4 in int8 too, where torch has it
    from rap_sam.inference import Int8Conv2d, int8_conv
    assert isinstance(model.neck.output_conv, Int8Conv2d) == \
        int8_conv.int8_conv_available()
    for _ in range(3):
        out = pred.predict(points=[[60, 40]])
    assert pred.pixels.kernel == 'int8' and pred._prompt_kv is not None
    assert out['masks'].shape == ref['masks'].shape == (1, 96, 128)
    # a second predictor keeps the quantized backbone
    backbone = model.backbone
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        # (the advice of CPUs with AMX to use bf16 is no calibration matter)
        warnings.filterwarnings('ignore', 'precision int8: this CPU runs bf16')
        RapSAMPredictor(model, scale=(128, 96), precision='int8')
    assert model.backbone is backbone
    # a PyTorch without int8 GEMMs keeps the products in floating point
    from rap_sam.inference import int8_model
    model.panoptic_head.pixel_kernel = None
    monkeypatch.setattr(int8_model, 'int8_products_available',
                        lambda features: False)
    int8_model.quantize_model(model, [])
    assert model.panoptic_head.pixel_kernel is None
    assert model.backbone is backbone
    # nor without oneDNN's int8 convolution the neck
    fresh = _model()
    monkeypatch.setattr(int8_model, 'int8_conv_available', lambda: False)
    monkeypatch.setattr(int8_model, 'quantize_backbone', lambda m, c: m)
    int8_model.quantize_model(fresh, [])
    assert type(fresh.neck.output_conv) is torch.nn.Conv2d


def test_image_files(tmp_path):
    import cv2
    for name in ('b.png', 'a.jpg', 'notes.txt'):
        path = tmp_path / name
        if name.endswith('.txt'):
            path.write_text('x')
        else:
            cv2.imwrite(str(path), np.zeros((8, 8, 3), np.uint8))
    assert image_files([str(tmp_path)]) == [
        str(tmp_path / 'a.jpg'), str(tmp_path / 'b.png')]
    assert image_files([str(tmp_path)], limit=1) == [str(tmp_path / 'a.jpg')]
    with pytest.raises(ValueError, match='no such file'):
        image_files([str(tmp_path / 'missing')])
    with pytest.raises(ValueError, match='no image files'):
        image_files([])


@pytest.mark.skipif(not hasattr(torch, '_int_mm'),
                    reason='torch._int_mm is not available')
def test_int8_map_products_in_eval_mode_only():
    """A head set to the 'int8' kernel decodes with it in eval mode, close
    to fp32, and trains with the default kernel."""
    from rap_sam.models.heads import rap_sam_head
    model = _model()
    head = model.panoptic_head
    features = torch.randn(1, 256, 24, 32)
    seen = []
    real = rap_sam_head.decoder_features

    def spy(features, kernel=None):
        pixels = real(features, kernel)
        seen.append(pixels.kernel)
        return pixels

    rap_sam_head.decoder_features = spy
    try:
        head.eval()
        with torch.no_grad():
            ref = head._decode(features)
            head.pixel_kernel = 'int8'
            got = head._decode(features)
        head.train()
        out = head._decode(features)
    finally:
        rap_sam_head.decoder_features = real
    assert seen[1] == 'int8' and seen[0] == seen[2] != 'int8'
    # int8 noise that grows from layer to layer (random weights), not
    # another function: most mask pixels agree
    rel = float((got['mask_logits'][0] - ref['mask_logits'][0]).norm() /
                ref['mask_logits'][0].norm())
    assert rel < 0.1, rel
    agree = [
        float(((a > 0) == (b > 0)).float().mean())
        for a, b in zip(got['mask_logits'], ref['mask_logits'])
    ]
    assert agree[0] > 0.97 and min(agree) > 0.8, agree
    out['mask_logits'][-1].sum().backward()  # gradients flow in training
    assert model.neck is not None and head.object_queries.weight.grad \
        is not None
