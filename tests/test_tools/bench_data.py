"""Tiny real benchmarks for tools/test.py: data, configs and oracles.

The data are the real samples of ../shared/data: the two COCO panoptic
val2017 images (COCO panoptic, COCO-SAM), DAVIS-2016 sequences converted to
YouTube-VIS (and, for VIPSeg's layout, to panoptic PNGs + JSON: the object
as a thing, the rest as 'ground' stuff, a VOID band on top).
"""
import importlib.util
import json
import os
import os.path as osp
import shutil

import numpy as np
import torch
from mmengine.structures import InstanceData, PixelData
from PIL import Image

from conftest import REPO, load_config, shared_data
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.structures.mask import mask2bbox
from rap_sam.datasets.class_names import VIPSEG
from rap_sam.datasets.converters import (DAVIS_SAMPLE_CATEGORIES,
                                         convert_video_folders,
                                         read_object_mask, ytvis_to_cocovid)
from rap_sam.datasets.vipseg import VIPSEG_THING_IDS, rgb_to_id

R18 = 'rap-sam_r18_test_{}.py'
DAVIS_SEQUENCES = ('dog', 'cows')


def load_test_tool():
    """tools/test.py as a module."""
    spec = importlib.util.spec_from_file_location('rap_sam_tools_test',
                                                  REPO / 'tools' / 'test.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def save_random_checkpoint(path) -> str:
    """A randomly initialised R18 RAP-SAM, saved as an mmengine
    checkpoint."""
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(load_config(R18.format('coco-panoptic')).model)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return str(path)


def _update_pipeline(pipeline, scale, transforms):
    for t in pipeline:
        if t['type'] == 'Resize':
            t['scale'] = scale
        elif t['type'] == 'Pad':
            t['size'] = (max(scale), max(scale))
        t.update(transforms.get(t['type'], {}))
        _update_pipeline(t.get('transforms', []), scale, transforms)


def tiny_config(benchmark, tmp_path, dataset, evaluator, scale,
                transforms=None, **options) -> str:
    """The R18 test config of a benchmark on tiny data, as a file.

    Random class embeddings, no workers, a small input ``scale``; the
    dataset keys and the evaluator replaced; ``transforms`` (type ->
    arguments) updated in the pipeline; ``options`` merged.
    """
    cfg = load_config(R18.format(benchmark))
    loader = cfg.test_dataloader
    loader.num_workers = 0
    loader.persistent_workers = False
    loader.dataset.update(dataset)
    _update_pipeline(loader.dataset.pipeline, scale, transforms or {})
    cfg.test_evaluator = evaluator
    cfg.merge_from_dict(options)
    path = osp.join(str(tmp_path), f'{benchmark}_config.py')
    cfg.dump(path)
    return path


# ---------------------------------------------------------------------------
# COCO panoptic sample
# ---------------------------------------------------------------------------
def coco_root():
    return shared_data('coco_panoptic_sample')


def coco_things_json(tmp_path) -> str:
    """The sample's thing segments as a COCO instances file (the
    ``instances_val2017.json`` of CocoMetric)."""
    root = coco_root()
    det = json.load(open(root / 'panoptic_coco_detection_format.json'))
    pan = json.load(open(root / 'panoptic_examples.json'))
    things = {c['id'] for c in pan['categories'] if c['isthing']}
    det['categories'] = [c for c in det['categories'] if c['id'] in things]
    # The sample reuses segment ids as annotation ids across its two
    # images; the COCO API needs them unique.
    det['annotations'] = [
        dict(a, id=i) for i, a in enumerate(
            (a for a in det['annotations'] if a['category_id'] in things),
            start=1)
    ]
    path = osp.join(str(tmp_path), 'instances_things.json')
    json.dump(det, open(path, 'w'))
    return path


def coco_dataset(root) -> dict:
    return dict(
        data_root=str(root) + '/',
        ann_file='panoptic_examples.json',
        data_prefix=dict(img='input_images/', seg='panoptic_examples/'))


def coco_panoptic_metric(root) -> dict:
    return dict(
        type='CocoPanopticMetric',
        ann_file=str(root / 'panoptic_examples.json'),
        seg_prefix=str(root / 'panoptic_examples') + '/',
        nproc=1)


class CocoOracle:
    """Predictions equal to the sample's COCO panoptic ground truth.

    ``predict`` gives the panoptic map (things ``label + k *
    INSTANCE_OFFSET``, crowd and stuff ``label``, unlabelled VOID) and the
    non-crowd things as ``pred_instances``; ``predict_from_feats`` answers
    prompts with the segment under the first click, or the segment whose
    box is the prompt box.
    """

    def __init__(self, root) -> None:
        gt = json.load(open(root / 'panoptic_examples.json'))
        cats = gt['categories']
        self.num_classes = len(cats)
        label_of = {c['id']: i for i, c in enumerate(cats)}
        is_thing = {c['id']: bool(c['isthing']) for c in cats}
        self.images = {}
        for ann in gt['annotations']:
            png = np.array(Image.open(root / 'panoptic_examples' /
                                      ann['file_name']))
            ids = rgb_to_id(png)
            segments = [
                dict(
                    id=s['id'],
                    label=label_of[s['category_id']],
                    thing=is_thing[s['category_id']],
                    crowd=bool(s['iscrowd'])) for s in ann['segments_info']
            ]
            self.images[ann['image_id']] = (ids, segments)

    def panoptic(self, img_id):
        ids, segments = self.images[img_id]
        pan = np.full(ids.shape, self.num_classes, np.int64)
        masks, labels = [], []
        for k, seg in enumerate(segments):
            mask = ids == seg['id']
            if seg['thing'] and not seg['crowd']:
                pan[mask] = seg['label'] + (k + 1) * INSTANCE_OFFSET
                masks.append(mask)
                labels.append(seg['label'])
            else:
                pan[mask] = seg['label']
        return pan, np.stack(masks), np.array(labels)

    def predict(self, batch_inputs, batch_data_samples, rescale=True):
        for sample in batch_data_samples:
            pan, masks, labels = self.panoptic(sample.img_id)
            sample.pred_panoptic_seg = PixelData(
                sem_seg=torch.from_numpy(pan)[None])
            masks = torch.from_numpy(masks)
            sample.pred_instances = InstanceData(
                masks=masks,
                labels=torch.from_numpy(labels),
                scores=torch.ones(len(labels)),
                bboxes=mask2bbox(masks))
        return batch_data_samples

    def extract_feat(self, batch_inputs):
        return (batch_inputs.new_zeros(len(batch_inputs), 1, 1, 1), )

    def _segment(self, ids, segments, prompts, i, scale):
        if 'points' in prompts and int(prompts.point_labels[i, 0]) >= 0:
            x, y = (prompts.points[i, 0].numpy() / scale).astype(int)
            return ids == ids[y, x]
        box = prompts.boxes[i].numpy() / np.tile(scale, 2)
        best, best_iou = None, -1.
        for seg in segments:
            mask = ids == seg['id']
            ys, xs = np.nonzero(mask)
            tight = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            inter = np.prod(np.clip(
                np.minimum(box[2:], tight[2:]) -
                np.maximum(box[:2], tight[:2]), 0, None))
            union = np.prod(box[2:] - box[:2]) + np.prod(
                tight[2:] - tight[:2]) - inter
            if inter / union > best_iou:
                best, best_iou = mask, inter / union
        return best

    def predict_from_feats(self, feats, batch_data_samples, rescale=True,
                           with_objects=None, prompt_kv=None):
        for sample in batch_data_samples:
            ids, segments = self.images[sample.img_id]
            prompts = sample.prompt_instances
            scale = np.array(sample.scale_factor, np.float32)
            num = len(prompts)
            masks = [
                self._segment(ids, segments, prompts, i, scale)
                for i in range(num)
            ]
            sample.pred_prompt_instances = InstanceData(
                masks=torch.from_numpy(np.stack(masks)),
                iou_scores=torch.ones(num))
        return batch_data_samples


# ---------------------------------------------------------------------------
# DAVIS as YouTube-VIS and as VIPSeg
# ---------------------------------------------------------------------------
def davis_root():
    return shared_data('davis2016')


def davis_ytvis(tmp_path, frame_step=8, max_frames=4, with_gt=True) -> str:
    """Two DAVIS sequences as a CocoVID file for YouTubeVISDataset."""
    root = davis_root()
    ytvis = convert_video_folders(
        str(root / 'JPEGImages' / '480p'),
        str(root / 'Annotations' / '480p'),
        DAVIS_SAMPLE_CATEGORIES,
        sequences=list(DAVIS_SEQUENCES),
        frame_step=frame_step,
        max_frames=max_frames)
    if not with_gt:
        ytvis['annotations'] = []
    path = osp.join(str(tmp_path), 'davis_ytvis.json')
    json.dump(ytvis_to_cocovid(ytvis), open(path, 'w'))
    return path


def ytvis_dataset(ann_file) -> dict:
    return dict(
        data_root='',
        ann_file=ann_file,
        data_prefix=dict(img_path=str(davis_root() / 'JPEGImages' /
                                      '480p')))


def video_instance_oracle(batch_inputs, batch_data_samples, rescale=True):
    """Every frame's ground-truth instances as its track predictions."""
    for track in batch_data_samples:
        for frame in track:
            gt = frame.gt_instances
            masks = torch.from_numpy(gt.masks.to_ndarray()).bool()
            frame.pred_track_instances = InstanceData(
                masks=masks,
                labels=gt.labels,
                scores=torch.ones(len(gt.labels)),
                instances_id=gt.instances_ids,
                bboxes=mask2bbox(masks))
    return batch_data_samples


def video_panoptic_oracle(batch_inputs, batch_data_samples, rescale=True):
    """Every frame's ground-truth panoptic map as its prediction."""
    for track in batch_data_samples:
        for frame in track:
            frame.pred_panoptic_seg = PixelData(
                sem_seg=frame.gt_panoptic_seg.sem_seg.clone())
    return batch_data_samples


def davis_vipseg(tmp_path, frame_step=8, max_frames=4) -> str:
    """Two DAVIS sequences in VIPSeg_720P's layout; returns the root."""
    davis = davis_root()
    root = osp.join(str(tmp_path), 'vipseg')
    classes = list(VIPSEG.classes)
    categories = [
        dict(id=i, name=name, isthing=int(i in VIPSEG_THING_IDS))
        for i, name in enumerate(classes)
    ]
    thing_of = dict(dog='dog', cows='cattle')
    videos, annotations = [], []
    for seq in DAVIS_SEQUENCES:
        frames = sorted(os.listdir(davis / 'JPEGImages' / '480p' /
                                   seq))[::frame_step][:max_frames]
        os.makedirs(osp.join(root, 'images', seq))
        os.makedirs(osp.join(root, 'panomasksRGB', seq))
        images, frame_anns = [], []
        for t, name in enumerate(frames):
            stem = osp.splitext(name)[0]
            shutil.copy(davis / 'JPEGImages' / '480p' / seq / name,
                        osp.join(root, 'images', seq, name))
            obj = read_object_mask(
                str(davis / 'Annotations' / '480p' / seq / f'{stem}.png'))
            ids = np.where(obj > 0, 1001, 7)
            ids[:8] = 0  # VOID band
            rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536],
                           -1).astype(np.uint8)
            Image.fromarray(rgb).save(
                osp.join(root, 'panomasksRGB', seq, f'{stem}.png'))
            h, w = ids.shape
            images.append(
                dict(id=f'{seq}_{t}', file_name=name, height=h, width=w))
            frame_anns.append(
                dict(
                    image_id=f'{seq}_{t}',
                    file_name=f'{stem}.png',
                    segments_info=[
                        dict(
                            id=1001,
                            category_id=classes.index(thing_of[seq]),
                            iscrowd=0),
                        dict(
                            id=7,
                            category_id=classes.index('ground'),
                            iscrowd=0)
                    ]))
        videos.append(dict(video_id=seq, images=images))
        annotations.append(dict(video_id=seq, annotations=frame_anns))
    json.dump(
        dict(videos=videos, annotations=annotations, categories=categories),
        open(osp.join(root, 'panoptic_gt_VIPSeg_val.json'), 'w'))
    return root
