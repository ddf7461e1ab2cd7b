"""SAM-style image predictor, streaming video predictor, query linking."""
import numpy as np
import pytest
import torch

from rap_sam.inference import (QueryLinker, RapSAMPredictor, VideoPredictor,
                               build_model)

R18 = 'configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py'


@pytest.fixture(scope='module')
def model():
    from conftest import REPO
    torch.manual_seed(0)
    return build_model(str(REPO / R18), random_weights=True)


@pytest.fixture()
def image():
    rng = np.random.default_rng(0)
    img = np.zeros((90, 120, 3), np.uint8)
    img[20:60, 30:80] = (200, 40, 40)
    return img + rng.integers(0, 20, img.shape, dtype=np.uint8)


def test_predictor_points_boxes_and_panoptic(model, image):
    pred = RapSAMPredictor(model, scale=(160, 128))
    pred.set_image(image)
    out = pred.predict(points=[[50, 40]])
    assert out['masks'].shape == (1, 90, 120)
    assert out['masks'].dtype == bool
    assert 0 <= out['iou_scores'][0] <= 1
    out = pred.predict(points=[[[50, 40], [10, 10]], [[100, 80], [5, 5]]],
                       point_labels=[[1, 0], [1, 1]],
                       boxes=[[30, 20, 80, 60], [90, 70, 110, 85]])
    assert out['masks'].shape == (2, 90, 120)
    pan = pred.panoptic()['panoptic_seg']
    assert pan.shape == (90, 120)


def test_reprompting_reuses_the_cached_features(model, image):
    pred = RapSAMPredictor(model, scale=(160, 128))
    pred.set_image(image)
    calls = []
    hook = model.backbone.register_forward_hook(
        lambda *a: calls.append(1))
    a = pred.predict(points=[[50, 40]])
    b = pred.predict(points=[[50, 40]])
    hook.remove()
    assert calls == []
    np.testing.assert_array_equal(a['masks'], b['masks'])


def test_cpu_predictor_runs_channels_last_with_the_same_results(model,
                                                                image):
    import copy
    plain = RapSAMPredictor(copy.deepcopy(model), scale=(160, 128),
                            channels_last=False)
    default = RapSAMPredictor(copy.deepcopy(model), scale=(160, 128))
    assert default.channels_last and not plain.channels_last
    assert default.model.backbone.conv1.weight.is_contiguous(
        memory_format=torch.channels_last)
    prompts = dict(
        points=[[[50, 40]], [[100, 80]]],
        boxes=[[30, 20, 80, 60], [90, 70, 110, 85]])
    outs = []
    for pred in (plain, default):
        pred.set_image(image)
        outs.append((pred.predict(**prompts), pred.panoptic()))
    (a, pan_a), (b, pan_b) = outs
    np.testing.assert_allclose(a['iou_scores'], b['iou_scores'], rtol=1e-4,
                               atol=1e-5)
    # the same masks up to the float rounding of pixels at the threshold
    assert (a['masks'] != b['masks']).mean() < 1e-3
    assert (pan_a['panoptic_seg'] != pan_b['panoptic_seg']).mean() < 1e-3


@pytest.mark.parametrize('shape', [(90, 120), (90, 120, 1), (90, 120, 4)])
def test_grayscale_and_rgba_images_are_accepted(model, shape):
    pred = RapSAMPredictor(model, scale=(160, 128))
    pred.set_image(np.full(shape, 128, np.uint8))
    assert pred.predict(points=[[5, 5]])['masks'].shape == (1, 90, 120)


def test_predictor_input_errors(model, image):
    pred = RapSAMPredictor(model, scale=(160, 128))
    with pytest.raises(RuntimeError, match='set_image'):
        pred.predict(points=[[1, 1]])
    with pytest.raises(ValueError, match=r'\(H, W'):
        pred.set_image(np.zeros((4, 4, 3, 2), np.uint8))
    pred.set_image(image)
    with pytest.raises(ValueError, match='outside the image'):
        pred.predict(points=[[500, 40]])
    with pytest.raises(ValueError, match=r'points must have shape'):
        pred.predict(points=[[1, 2, 3]])
    with pytest.raises(ValueError, match='point_labels must match'):
        pred.predict(points=[[1, 2], [3, 4]], point_labels=[1, 1, 1])
    with pytest.raises(ValueError, match='boxes must have shape'):
        pred.predict(boxes=[[1, 2, 3]])
    empty = pred.predict(points=np.zeros((0, 1, 2)))
    assert empty['masks'].shape == (0, 90, 120)


def test_query_linker_recovers_a_permutation():
    torch.manual_seed(0)
    embeds = torch.randn(20, 16)
    linker = QueryLinker(momentum=0.)
    assert torch.equal(linker.link(embeds), torch.arange(20))
    shuffle = torch.randperm(20)
    noisy = embeds[shuffle] + 0.01 * torch.randn(20, 16)
    perm = linker.link(noisy)
    # slot s continues with the query that holds embeds[s]
    assert torch.equal(shuffle[perm], torch.arange(20))


def test_video_predictor_keeps_ids_and_adds_prompted_objects(model, image):
    video = VideoPredictor(model, scale=(160, 128), score_thr=0.0)
    first = video.step(image)
    assert first['masks'].shape[1:] == (90, 120)
    ids_first = set(first['ids'].tolist())
    second = video.step(image, points=[[55, 40]])
    prompted = [i for i, lbl in zip(second['ids'], second['labels'])
                if lbl == -1]
    assert len(prompted) == 1 and prompted[0] not in ids_first
    third = video.step(image)
    assert prompted[0] in third['ids'].tolist()
    # object-query ids come from stable slots: the same frame shows the
    # same slots (top max_per_video by mean class score) with the same ids
    objects = {i for i, lbl in zip(third['ids'], third['labels']) if lbl >= 0}
    assert objects == ids_first
    assert 0 < len(objects) <= model.test_cfg["max_per_video"]
    moved = video.step(np.roll(image, 6, axis=1))
    slot_of_id = {i: s for s, i in video.slot_ids.items()}
    assert len(slot_of_id) == len(video.slot_ids)  # one id per slot
    assert set(moved['ids'].tolist()) <= set(slot_of_id) | set(prompted)


def test_video_predictor_memory_does_not_grow(model, image):
    video = VideoPredictor(model, scale=(160, 128))
    video.step(image, points=[[55, 40]])
    sizes = []
    for t in range(4):
        video.step(np.roll(image, t, axis=0))
        sizes.append((tuple(video.state.linker.slots.shape),
                      len(video.prompted)))
    assert len(set(sizes)) == 1


def test_streaming_is_the_scored_video_algorithm(model):
    """VideoPredictor.step (what the speed benchmark times) gives, on the
    last frame, the tracks that RapSAM.predict_video (what VIS mAP scores)
    gives with clips of one frame: same slots, labels, scores and masks."""
    from mmdet.structures import DetDataSample, TrackDataSample
    rng = np.random.default_rng(1)
    frames = []
    for t in range(3):
        img = rng.integers(0, 40, (96, 128, 3), dtype=np.uint8)
        img[20 + 4 * t:60 + 4 * t, 30:80] = (200, 40, 40)
        frames.append(img)
    fusion_cfg = model.panoptic_fusion_head.test_cfg
    old = dict(fusion_cfg)
    fusion_cfg.update(clip_length=1, max_per_video=6)
    try:
        stream = VideoPredictor(model, scale=(128, 96), score_thr=-1e9)
        for frame in frames:
            streamed = stream.step(frame)
        inputs = [torch.from_numpy(f).permute(2, 0, 1)[[2, 1, 0]]
                  for f in frames]
        data = model.data_preprocessor(
            dict(inputs=inputs, data_samples=[DetDataSample()] * 3), False)
        meta = dict(ori_shape=(96, 128), img_shape=(96, 128),
                    batch_input_shape=(96, 128), pad_shape=(96, 128),
                    scale_factor=(1., 1.))
        track = TrackDataSample()
        track.video_data_samples = [
            DetDataSample(metainfo=dict(meta, frame_id=t)) for t in range(3)
        ]
        with torch.no_grad():
            scored = model.predict(data['inputs'][None], [track])[0]
    finally:
        fusion_cfg.clear()
        fusion_cfg.update(old)
    last = scored[2].pred_track_instances
    first_of_slot = {}
    for i, slot in enumerate(last.query_index.tolist()):
        first_of_slot.setdefault(slot, i)
    order = list(first_of_slot.values())
    assert len(streamed['ids']) == len(order) > 0
    np.testing.assert_array_equal(streamed['labels'],
                                  last.labels[order].numpy())
    np.testing.assert_allclose(streamed['scores'],
                               last.scores[order].numpy(), rtol=1e-6)
    np.testing.assert_array_equal(streamed['masks'],
                                  last.masks[order].numpy())


@pytest.mark.parametrize('labels,message', [([2], 'got 2'),
                                            ([0.7], 'got 0.7'),
                                            (['a'], 'must be numbers')])
def test_bad_click_labels_are_errors(model, image, labels, message):
    pred = RapSAMPredictor(model, scale=(160, 128))
    pred.set_image(image)
    with pytest.raises(ValueError, match=f'point_labels.*{message}'):
        pred.predict(points=[[50, 40]], point_labels=labels)
    # exact floats and bools are clicks
    a = pred.predict(points=[[50, 40]], point_labels=[1.0])
    b = pred.predict(points=[[50, 40]], point_labels=[True])
    c = pred.predict(points=[[50, 40]], point_labels=[1])
    np.testing.assert_array_equal(a['masks'], c['masks'])
    np.testing.assert_array_equal(b['masks'], c['masks'])


def test_model_refuses_bad_label_values(model):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    sample = DetDataSample(metainfo=dict(
        batch_input_shape=(64, 64), img_shape=(64, 64), ori_shape=(64, 64)))
    feats = (torch.zeros(1, 256, 16, 16), )
    for labels, message in ((torch.tensor([[2]]), 'got 2'),
                            (torch.tensor([[0.7]]), 'got 0.7')):
        sample.prompt_instances = InstanceData(
            points=torch.tensor([[[5., 5.]]]), point_labels=labels)
        with pytest.raises(ValueError, match=message):
            model.predict_from_feats(feats, [sample])


def test_video_box_valid_of_wrong_length_is_an_error(model, image):
    video = VideoPredictor(model, scale=(160, 128))
    with pytest.raises(ValueError, match='box_valid must be 2 bools'):
        video.step(image, boxes=[[10, 10, 50, 50], [20, 20, 60, 60]],
                   box_valid=[True])


def test_video_prompts_follow_a_change_of_frame_size(model, image):
    """A tracked object's prompt keeps its place in the picture when the
    frames change size (it is stored relative to the image)."""
    import cv2
    video = VideoPredictor(model, scale=(160, 128))
    video.step(image, points=[[60, 45]])
    (click, box), = video.prompted.values()
    seen = []
    encoder = model.panoptic_head.prompt_encoder
    original = encoder.encode_samples

    def spy(samples, *args, **kwargs):
        seen.append((samples[0].prompt_instances.points[0, 0].clone(),
                     samples[0].img_shape))
        return original(samples, *args, **kwargs)

    encoder.encode_samples = spy
    try:
        video.step(cv2.resize(image, (240, 90)))  # twice as wide
    finally:
        del encoder.encode_samples
    (points, (h, w)), = seen
    assert (h, w) == (60, 160)  # the first frame's input was 120 x 160
    np.testing.assert_allclose(points.numpy(), click * (w, h), rtol=1e-5)
