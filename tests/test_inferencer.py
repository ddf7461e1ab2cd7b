"""mmdet drop-ins: DetInferencer (panoptic) and TrackLocalVisualizer."""
import warnings

import mmcv
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config

from conftest import CONFIG_DIR, shared_data, without_batch_padding
from mmdet.datasets import CocoPanopticDataset
from mmdet.evaluation import INSTANCE_OFFSET
from rap_sam.inference import build_model, use_random_embeddings

R18 = 'rap-sam_r18_8xb2-12e_coco-panoptic.py'
R18_JOINT = 'rap-sam_r18_8xb2-12e_coco-ytvis-sam.py'
SCALE = (320, 192)
COCO = CocoPanopticDataset.METAINFO


def small_random_config(name: str) -> Config:
    """A config with random class embeddings, tested at ``SCALE``."""
    cfg = without_batch_padding(
        use_random_embeddings(Config.fromfile(str(CONFIG_DIR / name))))
    for transform in cfg.test_dataloader.dataset.pipeline:
        if transform['type'] == 'Resize':
            transform['scale'] = SCALE
    return cfg


def save_random_checkpoint(cfg: Config, path, meta: dict) -> None:
    torch.manual_seed(0)
    model = build_model(cfg, random_weights=True)
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)


def test_default_dataset_meta():
    from rap_sam.models.detectors.dataset_meta import default_dataset_meta
    placeholders = [f'class_{i}' for i in range(133)]
    assert default_dataset_meta(placeholders, 80, 53) == dict(COCO)
    meta = default_dataset_meta(['cat', 'dog', 'sky'], 2, 1)
    assert meta == dict(
        classes=('cat', 'dog', 'sky'),
        thing_classes=('cat', 'dog'),
        stuff_classes=('sky', ))


def make_inferencer(tmp_path, name: str, meta: dict):
    from mmdet.apis import DetInferencer
    cfg = small_random_config(name)
    cfg.dump(str(tmp_path / 'config.py'))
    save_random_checkpoint(cfg, tmp_path / 'ckpt.pth', meta)
    return DetInferencer(
        model=str(tmp_path / 'config.py'),
        weights=str(tmp_path / 'ckpt.pth'),
        device='cpu',
        show_progress=False)


@pytest.mark.parametrize(
    'name, meta',
    [(R18, {}), (R18, dict(dataset_meta=COCO)),
     (R18_JOINT, dict(dataset_meta=dict(classes=COCO['thing_classes'])))],
    ids=['no-meta', 'coco-panoptic-meta', 'joint-80-class-meta'])
def test_det_inferencer_gets_the_test_vocabulary(tmp_path, name, meta):
    # mmdet falls back to the 80 COCO detection classes for a checkpoint
    # without dataset_meta: panoptic labels need the 133 of the model.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        inferencer = make_inferencer(tmp_path, name, meta)
    replaced = [w for w in caught if 'test vocabulary' in str(w.message)]
    assert bool(replaced) == (meta.get('dataset_meta') is not COCO)
    dataset_meta = inferencer.model.dataset_meta
    assert tuple(dataset_meta['classes']) == COCO['classes']
    assert len(dataset_meta['palette']) == len(COCO['classes'])
    assert inferencer.visualizer.dataset_meta is dataset_meta


def test_det_inferencer_panoptic(tmp_path):
    truck = shared_data('images', 'truck.jpg')
    inferencer = make_inferencer(tmp_path, R18, {})
    out = inferencer(
        str(truck), out_dir=str(tmp_path / 'out'), return_datasamples=True)
    sample = out['predictions'][0]
    pan = sample.pred_panoptic_seg.sem_seg[0]
    assert pan.shape == (1200, 1800)
    labels = pan.unique() % INSTANCE_OFFSET
    assert (labels <= len(COCO['classes'])).all()  # 133 is void
    drawn = mmcv.imread(str(tmp_path / 'out' / 'vis' / 'truck.jpg'))
    assert drawn.shape == (1200, 1800, 3)
    original = mmcv.imread(str(truck))
    assert np.abs(drawn.astype(int) - original).mean() > 5


def test_track_local_visualizer_draws_a_clip(tmp_path):
    pytest.importorskip(
        'seaborn', reason="mmdet's TrackLocalVisualizer colours ids with it")
    from mmdet.visualization import TrackLocalVisualizer
    folder = shared_data('davis2016', 'JPEGImages', '480p', 'dog')
    frames = [str(p) for p in sorted(folder.glob('*.jpg'))[:3]]
    cfg = small_random_config(R18)
    torch.manual_seed(0)
    model = build_model(cfg, random_weights=True)
    pipeline = Compose([
        dict(
            type='TransformBroadcaster',
            transforms=[
                dict(type='LoadImageFromFile'),
                dict(type='Resize', scale=SCALE, keep_ratio=True)
            ]),
        dict(type='PackTrackInputs')
    ])
    data = pipeline(
        dict(
            img_path=frames,
            img_id=[0, 1, 2],
            frame_id=[0, 1, 2],
            ori_video_length=[3] * 3))
    with torch.no_grad():
        track = model.test_step(
            dict(inputs=[data['inputs']],
                 data_samples=[data['data_samples']]))[0]

    visualizer = TrackLocalVisualizer(name='rap_sam_track_test')
    visualizer.dataset_meta = model.dataset_meta
    ids = []
    for t, frame in enumerate(track):
        instances = frame.pred_track_instances
        assert instances.masks.shape[-2:] == (480, 854)
        ids.append(instances.instances_id.tolist())
        image = mmcv.imread(frames[t], channel_order='rgb')
        out_file = tmp_path / f'frame_{t}.png'
        visualizer.add_datasample(
            f'frame_{t}',
            image,
            frame,
            draw_gt=False,
            pred_score_thr=0.,
            out_file=str(out_file))
        drawn = mmcv.imread(str(out_file), channel_order='rgb')
        assert drawn.shape == image.shape
        assert np.abs(drawn.astype(int) - image).mean() > 5
    assert ids[0] == ids[1] == ids[2] and len(ids[0]) > 0
