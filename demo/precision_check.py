"""Accuracy of bf16, fp16 or int8 inference against fp32 on a trained model.

Re-scores a checkpoint trained by ``demo/train_eval_demo.py`` (``make
demo``) on the demo's samples in fp32 and in the chosen precision, and
compares the two: the metrics (PQ, 1-click / 1-box mIoU, VIS mAP), the
panoptic maps (fraction of pixels with the same segment), the prompt masks
(mean IoU of each prompt's mask with its fp32 mask) and the video tracks
(mean IoU of each track's masks with the fp32 ones, frame by frame).

Example::

    python demo/precision_check.py outputs/demo --precision bf16
"""
import argparse
import os.path as osp
import random
import sys
import time
from typing import Dict, List

import numpy as np
import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from train_eval_demo import (build_embeddings, evaluate,  # noqa: E402
                             parse_args as demo_args)

from rap_sam.datasets.demo_data import prepare_demo_data  # noqa: E402
from rap_sam.inference import (PRECISIONS, autocast, build_model,  # noqa
                               image_files, quantize_model,
                               resolve_precision, to_rgb_uint8)
from rap_sam.inference.predictor import prepare_image  # noqa: E402


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def segment_agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fraction of pixels in the same segment of two panoptic maps, each
    segment of ``a`` matched to the segment of ``b`` of the same class it
    overlaps most (instance ids may be numbered differently)."""
    a, b = a.flatten().long(), b.flatten().long()
    pair_ids, counts = torch.unique(
        torch.stack([a, b]), dim=1, return_counts=True)
    same_class = (pair_ids[0] % INSTANCE_OFFSET) == (
        pair_ids[1] % INSTANCE_OFFSET)
    best: Dict[int, int] = {}
    for (ia, _), count, same in zip(pair_ids.t().tolist(), counts.tolist(),
                                    same_class.tolist()):
        if same:
            best[ia] = max(best.get(ia, 0), count)
    return sum(best.values()) / len(a)


def agreement(ref: Dict[str, list], low: Dict[str, list]) -> Dict[str, float]:
    """How far the low-precision outputs are from the fp32 ones."""
    pairs = [(a.pred_panoptic_seg.sem_seg, b.pred_panoptic_seg.sem_seg)
             for a, b in zip(ref['panoptic'], low['panoptic'])]
    out = dict(
        panoptic_pixel_agreement=float(
            np.mean([float((a == b).float().mean()) for a, b in pairs])),
        panoptic_label_agreement=float(
            np.mean([
                float((a % INSTANCE_OFFSET == b % INSTANCE_OFFSET).float()
                      .mean()) for a, b in pairs
            ])),
        panoptic_segment_agreement=float(
            np.mean([segment_agreement(a, b) for a, b in pairs])))
    for kind in ('click', 'box'):
        for a, b in zip(ref[kind], low[kind]):
            pa, pb = a.prompt_instances, b.prompt_instances
            key = 'boxes' if kind == 'box' else 'points'
            if not torch.equal(pa[key], pb[key]):
                raise RuntimeError(f'the {kind} prompts of the two runs '
                                   'differ: seed the pipelines')
        ious = [
            mask_iou(ma, mb) for a, b in zip(ref[kind], low[kind])
            for ma, mb in zip(a.pred_prompt_instances.masks.numpy(),
                              b.pred_prompt_instances.masks.numpy())
        ]
        out[f'{kind}_mask_iou_mean'] = float(np.mean(ious))
        out[f'{kind}_mask_iou_min'] = float(np.min(ious))
    ious: List[float] = []
    for video_a, video_b in zip(ref['video'], low['video']):
        for fa, fb in zip(video_a, video_b):
            ia, ib = fa.pred_track_instances, fb.pred_track_instances
            # a track is a (query slot, class) pair; one missing in the
            # low-precision result counts as IoU 0
            tracks_b = {(int(q), int(c)): k for k, (q, c) in enumerate(
                zip(ib.query_index, ib.labels))}
            for k, (q, c) in enumerate(zip(ia.query_index.tolist(),
                                           ia.labels.tolist())):
                j = tracks_b.get((q, c))
                ious.append(0. if j is None else mask_iou(
                    ia.masks[k].numpy(), ib.masks[j].numpy()))
    out['track_mask_iou_mean'] = float(np.mean(ious))
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dir', help="the demo's work dir")
    parser.add_argument('--checkpoint', help='default: its last checkpoint')
    parser.add_argument('--precision', choices=PRECISIONS, default='bf16')
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    precision = resolve_precision(args.precision)
    checkpoint = args.checkpoint
    if checkpoint is None:
        with open(osp.join(args.work_dir, 'last_checkpoint')) as f:
            checkpoint = f.read().strip()
    demo = demo_args(['--work-dir', args.work_dir])
    data = prepare_demo_data(osp.join(args.work_dir, 'data'),
                             osp.abspath(demo.shared_data))
    embeddings = build_embeddings(
        osp.join(args.work_dir, 'data', 'embeddings'), demo.clip_model,
        demo.clip_checkpoint,
        not (demo.clip_checkpoint or demo.clip_random_weights))
    model = build_model(osp.join(args.work_dir, 'demo_config.py'),
                        checkpoint)
    runs = {}
    for name in ('fp32', precision):
        # the same random prompts and clips in both runs
        random.seed(0)
        np.random.seed(0)
        torch.manual_seed(0)
        if name == 'int8':
            # a handful of the demo's images (it scores the samples it fits)
            train_images = image_files(
                [osp.join(data.coco_root, data.coco_img)], limit=8)
            size = tuple(demo.size)[::-1]
            quantize_model(model, [
                prepare_image(model, to_rgb_uint8(path), size)[0]
                for path in train_images
            ])
        start = time.perf_counter()
        with torch.no_grad(), autocast(name):
            results, _, outputs = evaluate(
                model, data, embeddings, demo.size,
                osp.join(args.work_dir, f'vis_{name}'))
        runs[name] = (results, outputs, time.perf_counter() - start)
    print(f'\n{checkpoint}, {torch.get_num_threads()} threads')
    print('| metric | fp32 | ' + precision + ' |')
    print('|---|---|---|')
    for key in runs['fp32'][0]:
        a, b = runs['fp32'][0][key], runs[precision][0][key]
        scale = 100 if key == 'VIS mAP' else 1
        print(f'| {key} | {a * scale:.1f} | {b * scale:.1f} |')
    print(f"| evaluation seconds | {runs['fp32'][2]:.1f} | "
          f'{runs[precision][2]:.1f} |')
    agree = agreement(runs['fp32'][1], runs[precision][1])
    print(f'\n{precision} against fp32:')
    for key, value in agree.items():
        print(f'  {key}: {value:.4f}')
    return dict(metrics={k: v[0] for k, v in runs.items()},
                agreement=agree)


if __name__ == '__main__':
    main()
