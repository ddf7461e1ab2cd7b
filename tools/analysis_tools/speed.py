"""Params, FLOPs and median latency of each RAP-SAM task.

Example::

    python tools/analysis_tools/speed.py \
        configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py \
        --shape 800 1344 --threads 2 --repeat 5

Weights are random (speed does not depend on them). Timings are medians
over ``--repeat`` runs after ``--warmup`` runs; the spread is the
interquartile range. Rows:

- backbone: the backbone body alone;
- features: backbone + neck (``set_image``);
- panoptic: features + object queries + panoptic fusion, full resolution;
- prompts(k): features + k point prompts;
- panoptic+prompts(k): features + objects and k prompts in one decoder
  pass + fusion;
- re-prompt(k): k point prompts on cached features (SAM's use);
- video frame: one frame decoded as a 1-frame clip.
"""
import argparse
import json
import statistics
import time
from typing import Callable, Dict, List

import torch
from torch.utils.flop_counter import FlopCounterMode

from rap_sam.inference import build_model
from rap_sam.models.heads.clip_targets import frames_to_clip
from rap_sam.models.layers import ModulatedDeformConv2d


def parse_args():
    parser = argparse.ArgumentParser(description='RAP-SAM speed benchmark')
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs=2, default=[800, 1344],
                        metavar=('H', 'W'), help='input size (padded)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--prompts', type=int, nargs='*', default=[10])
    parser.add_argument('--tasks', nargs='*', default=[
        'backbone', 'features', 'panoptic', 'prompts', 'panoptic+prompts',
        're-prompt', 'video'
    ])
    parser.add_argument('--half', action='store_true',
                        help='fp16 autocast (CUDA)')
    parser.add_argument('--json', help='write the results to this file')
    return parser.parse_args()


def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def time_it(fn: Callable, device: str, repeat: int,
            warmup: int) -> Dict[str, float]:
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else times * 3
    return dict(median_s=statistics.median(times), iqr_s=q[2] - q[0],
                runs=len(times))


def count_flops(fn: Callable, model: torch.nn.Module) -> float:
    """FLOPs of one call: aten ops + torchvision's deformable convs."""
    extra = [0]

    def dcn_hook(module, inputs, output):
        n, c_out, h, w = output.shape
        extra[0] += 2 * n * c_out * h * w * module.weight[0].numel()

    hooks = [m.register_forward_hook(dcn_hook) for m in model.modules()
             if isinstance(m, ModulatedDeformConv2d)]
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    for h in hooks:
        h.remove()
    return counter.get_total_flops() + extra[0]


def point_prompts(k: int, h: int, w: int):
    """k single-click prompts spread over the image."""
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(k, 1, 2, generator=g) * torch.tensor([w - 1, h - 1])
    return InstanceData(points=xy, point_labels=torch.ones(k, 1).long())


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(args.config, None, args.device, random_weights=True)
    head = model.panoptic_head
    h, w = args.shape
    x = torch.randn(1, 3, h, w, device=args.device)
    from mmdet.structures import DetDataSample
    meta = dict(img_shape=(h, w), ori_shape=(h, w), batch_input_shape=(h, w),
                pad_shape=(h, w), scale_factor=(1., 1.))

    def sample(k=0):
        s = DetDataSample(metainfo=meta)
        if k:
            s.prompt_instances = point_prompts(k, h, w)
        return s

    cached = {}

    def features():
        cached['f'] = model.extract_feat(x)
        return cached['f']

    def panoptic(k=0):
        s = sample(k)
        feats = model.extract_feat(x)
        res = head.predict(feats, [s])
        model.panoptic_fusion_head.predict(res['cls_logits'],
                                           res['mask_logits'], [s])

    def prompts_only(k, feats=None):
        s = sample(k)
        feats = feats or model.extract_feat(x)
        queries, _ = head.encode_prompts([s], (h, w), x.device)
        out = head.decode(feats[0], with_objects=False,
                          prompt_queries=queries)
        torch.nn.functional.interpolate(out['prompt_mask_logits'][-1],
                                        size=(h, w), mode='bilinear')

    def video_frame():
        feats = model.extract_feat(x)
        head.decode(frames_to_clip(feats[0], 1), with_objects=True)

    jobs: List = []
    for task in args.tasks:
        if task == 'backbone':
            jobs.append(('backbone', lambda: model.backbone(x)))
        elif task == 'features':
            jobs.append(('features', features))
        elif task == 'panoptic':
            jobs.append(('panoptic', panoptic))
        elif task == 'video':
            jobs.append(('video frame', video_frame))
        else:
            for k in args.prompts:
                if task == 'prompts':
                    jobs.append((f'prompts({k})',
                                 lambda k=k: prompts_only(k)))
                elif task == 'panoptic+prompts':
                    jobs.append((f'panoptic+prompts({k})',
                                 lambda k=k: panoptic(k)))
                elif task == 're-prompt':
                    jobs.append((f're-prompt({k})', lambda k=k: prompts_only(
                        k, cached.get('f') or features())))
    rows = []
    params = sum(p.numel() for p in model.parameters())
    backbone_params = sum(p.numel() for p in model.backbone.parameters())
    autocast = torch.autocast(args.device.split(':')[0], torch.float16,
                              enabled=args.half)
    with torch.no_grad(), autocast:
        features()
        for name, fn in jobs:
            flops = count_flops(fn, model) if args.device == 'cpu' or \
                not args.half else float('nan')
            stats = time_it(fn, args.device, args.repeat, args.warmup)
            rows.append(dict(task=name, gflops=flops / 1e9, **stats))
    base = next((r['median_s'] for r in rows if r['task'] == 'backbone'),
                None)
    print(f'config: {args.config}')
    print(f'params: {params / 1e6:.2f}M (backbone {backbone_params / 1e6:.2f}'
          f'M), input {h}x{w}, device {args.device}, threads '
          f'{args.threads}, repeat {args.repeat}')
    print('| task | GFLOPs | median ms | IQR ms | FPS | x backbone |')
    print('|---|---|---|---|---|---|')
    for r in rows:
        ratio = f"{r['median_s'] / base:.2f}" if base else '-'
        print(f"| {r['task']} | {r['gflops']:.1f} | "
              f"{r['median_s'] * 1e3:.1f} | {r['iqr_s'] * 1e3:.1f} | "
              f"{1 / r['median_s']:.2f} | {ratio} |")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(config=args.config, params=params,
                           backbone_params=backbone_params,
                           shape=[h, w], device=args.device,
                           threads=args.threads, rows=rows), f, indent=1)


if __name__ == '__main__':
    main()
