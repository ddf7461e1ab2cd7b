"""Inference speed-ups that must not change results."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmdet.models.seg_heads.panoptic_fusion_heads import MaskFormerFusionHead
from mmdet.structures import DetDataSample
from rap_sam.models.heads import PromptAdapter, RapSAMFusionHead
from rap_sam.models.heads.pixel_features import (PixelFeatures,
                                                 onednn_packing_available)


def _blob_masks(num: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Disc-shaped mask logits, so that panoptic segments survive."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=torch.float32),
        torch.arange(w, dtype=torch.float32),
        indexing='ij')
    centers = torch.rand(num, 2, generator=gen) * torch.tensor([h, w])
    radius = torch.rand(num, generator=gen) * h / 5 + 1.5
    dist = ((yy - centers[:, 0, None, None])**2 +
            (xx - centers[:, 1, None, None])**2).sqrt()
    return (radius[:, None, None] - dist) / 2


@pytest.mark.parametrize(
    'object_mask_thr,rescale,ori_shape,filter_low_score,iou_thr',
    [(0.8, True, (40, 62), True, 0.8), (0.3, True, (57, 93), True, 0.8),
     (0.3, False, (57, 93), False, 0.8), (0.3, False, (40, 62), False, 0.5),
     (0.3, True, (57, 93), True, 0.95)])
def test_fusion_head_gives_maskformers_results(object_mask_thr, rescale,
                                               ori_shape, filter_low_score,
                                               iou_thr):
    test_cfg = dict(
        panoptic_on=True,
        instance_on=True,
        max_per_image=100,
        iou_thr=iou_thr,
        filter_low_score=filter_low_score,
        object_mask_thr=object_mask_thr)
    ours = RapSAMFusionHead(80, 53, test_cfg=test_cfg)
    mmdet = MaskFormerFusionHead(80, 53, test_cfg=test_cfg)
    gen = torch.Generator().manual_seed(0)
    cls_logits = torch.randn(1, 100, 134, generator=gen)
    confident = torch.randperm(100, generator=gen)[:6]
    classes = torch.randint(0, 133, (6, ), generator=gen)
    cls_logits[0, confident, classes] += 12  # 6 objects, the rest unsure
    masks = _blob_masks(100, 10, 16)[None]
    # a quarter of the queries all negative: empty masks, never resized
    masks[0, 1::4] = -(masks[0, 1::4].abs() + 0.1)
    masks[0, 5, :, -1] = 2.  # positive in the padding only: resized
    meta = dict(batch_input_shape=(40, 64), img_shape=(40, 62),
                ori_shape=ori_shape, pad_shape=(40, 64),
                scale_factor=(1., 1.))
    samples = [DetDataSample(metainfo=meta)]
    full = F.interpolate(masks, size=(40, 64), mode='bilinear',
                         align_corners=False)
    expected = mmdet.predict(cls_logits, full, samples, rescale=rescale)[0]
    reference = RapSAMFusionHead(80, 53, test_cfg=test_cfg,
                                 full_resolution=True)
    runs = [(ours, masks), (ours, full), (reference, masks)]
    for head, given in runs:  # stride-4 or already full-size masks
        got = head.predict(cls_logits, given, samples, rescale=rescale)[0]
        assert torch.equal(got['pan_results'].sem_seg,
                           expected['pan_results'].sem_seg)
        for key in ('bboxes', 'labels', 'masks'):
            assert torch.equal(got['ins_results'][key],
                               expected['ins_results'][key]), key
        # mask scores are sums over pixels: equal up to summation order
        torch.testing.assert_close(
            got['ins_results'].scores,
            expected['ins_results'].scores,
            rtol=1e-6,
            atol=0)
    assert expected['pan_results'].sem_seg.unique().numel() > 1
    empty = expected['ins_results'].masks.flatten(1).sum(1) == 0
    assert 0 < int(empty.sum()) < len(empty)
    # a caller that wants the map only skips the instance results
    alone = ours.predict(cls_logits, masks, samples, rescale=rescale,
                         instance_on=False)[0]
    assert 'ins_results' not in alone
    assert torch.equal(alone['pan_results'].sem_seg,
                       expected['pan_results'].sem_seg)


@pytest.mark.parametrize('num_queries', [40, 300])
def test_panoptic_owners_of_many_queries_are_maskformers(num_queries):
    """Up to 255 kept queries the owner map is uint8 with bitwise
    selections, beyond that int64: the same map either way."""
    test_cfg = dict(object_mask_thr=0.05, iou_thr=0.01, filter_low_score=True)
    ours = RapSAMFusionHead(80, 53, test_cfg=test_cfg)
    mmdet = MaskFormerFusionHead(80, 53, test_cfg=test_cfg)
    gen = torch.Generator().manual_seed(1)
    cls_logits = torch.randn(num_queries, 134, generator=gen)
    cls_logits[torch.arange(num_queries),
               torch.randint(0, 133, (num_queries, ), generator=gen)] += 8
    masks = _blob_masks(num_queries, 48, 80, seed=1)
    assert (ours._panoptic_queries(cls_logits).numel() > 255) == (
        num_queries == 300)
    expected = mmdet.panoptic_postprocess(cls_logits, masks).sem_seg
    got = ours.panoptic_postprocess(cls_logits, masks).sem_seg
    assert torch.equal(got, expected)
    assert expected.unique().numel() > 10


@pytest.mark.parametrize('filter_low_score', [True, False])
def test_fusion_head_empty_regions_take_no_instance_id(filter_low_score):
    """Things whose region is empty paint nothing and use no id (mmdet)."""
    test_cfg = dict(iou_thr=0.8, filter_low_score=filter_low_score,
                    object_mask_thr=0.5)
    ours = RapSAMFusionHead(3, 1, test_cfg=test_cfg)
    mmdet = MaskFormerFusionHead(3, 1, test_cfg=test_cfg)
    h = w = 8
    masks = torch.full((4, h, w), -5.)
    masks[0, :, :4] = 5.  # thing: left half
    masks[1, :, :4] = 4.  # thing: the same pixels, always outscored
    masks[2, :, 4:] = 0.  # thing: wins the right half, never above 0.5
    masks[3, :4, 4:] = 5.  # thing: top right
    cls_logits = torch.full((4, 5), -10.)
    cls_logits[:, 0] = 10.  # every query a confident thing of class 0
    cls_logits[0, 0] = 11.  # query 0 outscores query 1 everywhere
    expected = mmdet.panoptic_postprocess(cls_logits, masks).sem_seg
    got = ours.panoptic_postprocess(cls_logits, masks).sem_seg
    assert torch.equal(got, expected)
    ids = sorted(set(got.unique().tolist()) - {4})
    assert ids == [1000, 2000], ids  # ids 1 and 2: no gap for queries 1, 2


def test_fusion_head_without_kept_queries():
    head = RapSAMFusionHead(
        2, 1, test_cfg=dict(object_mask_thr=1.1, instance_on=False))
    meta = dict(batch_input_shape=(8, 8), img_shape=(8, 7),
                ori_shape=(16, 14), pad_shape=(8, 8), scale_factor=(.5, .5))
    out = head.predict(
        torch.randn(1, 5, 4), torch.randn(1, 5, 2, 2),
        [DetDataSample(metainfo=meta)], rescale=True)[0]
    assert out['pan_results'].sem_seg.shape == (1, 16, 14)
    assert (out['pan_results'].sem_seg == 3).all()


def test_video_tracks_above_a_score_are_those_of_all_tracks():
    """``score_thr`` drops tracks before their masks are resized: the rest
    are the unfiltered tracks above it, masks and boxes equal."""
    head = RapSAMFusionHead(3, 1, test_cfg=dict(max_per_video=6))
    probs = torch.softmax(torch.randn(8, 5, generator=torch.Generator(
    ).manual_seed(1)) * 3, -1)
    logits = _blob_masks(8, 12, 20)[:, None]
    meta = dict(batch_input_shape=(48, 80), img_shape=(45, 80),
                ori_shape=(90, 160))
    every = head.predict_video(probs, logits, [meta])[0]['track_results']
    thr = float(every.scores[2])
    shown = head.predict_video(probs, logits, [meta],
                               score_thr=thr)[0]['track_results']
    assert len(every) == 6 and len(shown) == 2
    above = every[every.scores > thr]
    for key in ('masks', 'scores', 'labels', 'bboxes', 'query_index'):
        assert torch.equal(shown.get(key), above.get(key)), key


def test_prompt_adapter_is_mmcvs_cross_attention():
    torch.manual_seed(0)
    adapter = PromptAdapter(32, 4).eval()
    features = torch.randn(2, 32, 6, 7)
    kernels = torch.randn(2, 5, 32)
    with torch.no_grad():
        masks, iou, refined = adapter(features, kernels)
        pixels = features.flatten(2).transpose(1, 2)
        expected = adapter.norm(
            adapter.cross_attn(query=kernels, key=pixels, value=pixels))
        cached = adapter(features, kernels, adapter.pixel_kv(features))
        adapter.train()  # projects the pixels (dropout is 0)
        trained = adapter(features, kernels)
    # 4 heads x 5 prompts < 32 dims: attend_pixels, no pixel projected
    torch.testing.assert_close(refined, expected)
    torch.testing.assert_close(
        masks, torch.einsum('bpc,bchw->bphw', expected, features))
    for a, b, c in zip(cached, trained, (masks, iou, refined)):
        # cached: pixel_kv + attend_cached; trained: pixel_kv + SDPA
        torch.testing.assert_close(a, c)
        torch.testing.assert_close(a, b)
        assert not torch.equal(a, c)


def test_attending_pixels_is_attention_over_projected_pixels():
    """At the sizes of a 1024x1024 image (65k pixels) in fp32 and bf16."""
    torch.manual_seed(0)
    adapter = PromptAdapter(256, 8).eval()
    features = torch.randn(1, 256, 128, 512)
    queries = torch.randn(1, 10, 256)
    with torch.no_grad():
        keys, values = adapter.pixel_kv(features)
        expected = F.scaled_dot_product_attention(
            queries.view(1, 10, 8, 32).transpose(1, 2), keys, values)
        expected = expected.transpose(1, 2).reshape(1, 10, 256)
        got = adapter.attend_pixels(features, queries)
        packed = adapter.attend_pixels(PixelFeatures(features, 'packed'),
                                       queries)
        with torch.autocast('cpu', torch.bfloat16):
            low = adapter.attend_pixels(features.bfloat16(), queries)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # packed for oneDNN: the same products, summed in another order
    torch.testing.assert_close(packed, expected, rtol=1e-5, atol=1e-5)
    assert (low.float() - expected).abs().max() < 0.02 * expected.abs().max()


def test_predictor_kv_cache_gives_the_same_masks():
    from conftest import REPO
    from rap_sam.inference import RapSAMPredictor, build_model
    torch.manual_seed(0)
    model = build_model(
        str(REPO / 'configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py'),
        random_weights=True)
    image = np.random.default_rng(0).integers(0, 255, (60, 80, 3), np.uint8)
    cached = RapSAMPredictor(model, scale=(96, 64))
    plain = RapSAMPredictor(model, scale=(96, 64), cache_prompt_kv=False)
    cached.set_image(image)
    plain.set_image(image)
    prompts = ([[10, 10]], [[[40, 30]], [[70, 50]]], [[10, 10]])
    for i, points in enumerate(prompts):
        a, b = cached.predict(points=points), plain.predict(points=points)
        # The first predict of an image attends to the features, the
        # next ones to the cached keys and values: equal up to rounding.
        assert (cached._prompt_kv is not None) == (i > 0)
        assert (a['masks'] == b['masks']).mean() > 0.999
        np.testing.assert_allclose(a['iou_scores'], b['iou_scores'],
                                   rtol=1e-5)
    assert plain._prompt_kv is None
    # one pass reads the map unpacked; the re-prompts pack it once, with
    # the cached pixel keys and values
    packs = onednn_packing_available(cached.features)
    assert cached._pixels.packed == packs
    assert plain.pixels.kernel == ('onednn' if packs else 'torch')
    assert plain.pixels.tensor is plain.features
    np.testing.assert_array_equal(cached.panoptic()['panoptic_seg'],
                                  plain.panoptic()['panoptic_seg'])
    cached.set_image(image[::-1].copy())
    assert cached._prompt_kv is None and not cached.pixels.packed


def test_misspelt_test_cfg_key_is_an_error():
    with pytest.raises(ValueError, match=r"unknown keys \['max_per_imgae'\]"):
        RapSAMFusionHead(2, 1, test_cfg=dict(max_per_imgae=5))
    head = RapSAMFusionHead(2, 1, test_cfg=dict(max_per_image=5))
    head.test_cfg['object_mask_th'] = 0.5
    with pytest.raises(ValueError, match='object_mask_th'):
        head.predict(torch.randn(1, 5, 4), torch.randn(1, 5, 2, 2),
                     [DetDataSample(metainfo=dict(
                         batch_input_shape=(8, 8), img_shape=(8, 8),
                         ori_shape=(8, 8)))])


def test_mask_boxes_are_mmdets_mask2bbox():
    from mmdet.structures.mask import mask2bbox
    from rap_sam.models.utils import mask_boxes
    gen = torch.Generator().manual_seed(0)
    masks = torch.rand(7, 30, 41, generator=gen) > 0.97
    masks[0] = False  # empty
    masks[1] = False
    masks[1, 4, 9] = True  # one pixel
    masks[2] = False
    masks[2, :, -1] = True  # touches the last column, every row
    masks[3] = True  # everything
    got = mask_boxes(masks)
    assert got.dtype == torch.float32
    assert torch.equal(got, mask2bbox(masks))
    assert got[1].tolist() == [9, 4, 10, 5] and got[0].tolist() == [0] * 4
    assert torch.equal(mask_boxes(masks.float()), got)
    assert mask_boxes(masks[:0]).shape == (0, 4)


def test_mask_lookup_resizes_a_cached_query_once(monkeypatch):
    import rap_sam.models.heads.rap_sam_fusion_head as fusion
    calls, resize = [], fusion.resize_masks

    def counted(masks, size):
        calls.append(len(masks))
        return resize(masks, size)

    monkeypatch.setattr(fusion, 'resize_masks', counted)
    masks = torch.randn(5, 10, 16)
    meta = dict(batch_input_shape=(40, 64), img_shape=(40, 62),
                ori_shape=(40, 62))
    expected = F.interpolate(masks[:, None], size=(40, 64), mode='bilinear',
                             align_corners=False)[:, 0, :, :62]
    lookup = fusion.resize_to_image(masks, meta, rescale=True)
    kept = lookup(torch.tensor([3, 1]), cache=True)
    assert calls == [2]
    torch.testing.assert_close(kept, expected[[3, 1]])
    # 1 and 3 come from the cache, 0 and 4 are resized and not kept
    again = lookup(torch.tensor([1, 0, 3, 4]))
    assert calls == [2, 2]
    torch.testing.assert_close(again, expected[[1, 0, 3, 4]])
    lookup(torch.tensor([0]))
    assert calls == [2, 2, 1]


@pytest.mark.parametrize('chunk_masks', [1, 2, 3, 10])
def test_positive_masks_are_the_thresholded_lookup_in_chunks(
        monkeypatch, chunk_masks):
    import rap_sam.models.heads.rap_sam_fusion_head as fusion
    calls, resize = [], fusion.resize_masks

    def counted(masks, size):
        calls.append(len(masks))
        return resize(masks, size)

    monkeypatch.setattr(fusion, 'resize_masks', counted)
    meta = dict(batch_input_shape=(40, 64), img_shape=(37, 60),
                ori_shape=(74, 120))
    monkeypatch.setattr(fusion, 'CHUNK_BYTES', chunk_masks * 74 * 120 * 4)
    masks = torch.randn(6, 10, 16)
    masks[2] = -1  # empty
    index = torch.tensor([4, 0, 2, 5, 1, 0, 3])
    lookup = fusion.resize_to_image(masks, meta, rescale=True)
    expected = lookup(index) > 0
    calls.clear()
    got = fusion.positive_masks(lookup, index)
    assert got.dtype == torch.bool and torch.equal(got, expected)
    assert not got[2].any() and got.any()
    # the first mask alone, then chunks of the masks that fit CHUNK_BYTES
    # (two resizes each: to the padded input, then to the original size)
    sizes = [1] + [min(chunk_masks, 7 - s) for s in range(1, 7, chunk_masks)]
    assert calls == [n for n in sizes for _ in range(2)]
    empty = fusion.positive_masks(lookup, index[:0])
    assert empty.shape == (0, 74, 120) and empty.dtype == torch.bool
