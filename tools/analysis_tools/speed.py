"""Params, FLOPs, peak memory and latency of each RAP-SAM task.

Example::

    python tools/analysis_tools/speed.py \
        configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py \
        --threads 2 --repeat 5

RAP-SAM alone; ``tools/analysis_tools/compare_peers.py`` runs the same tasks
(``rap_sam.benchmark.rap_sam_tasks``) beside the peer models, checks the
speed targets and writes a table and a chart. Weights are random (speed
does not depend on them). Timings are medians over ``--repeat`` runs after
``--warmup`` runs; the spread is the interquartile range. Rows:

- backbone: the backbone body alone (1333x800, padded 1344x800);
- features: backbone + neck;
- panoptic: ``model.predict`` (decoder + fusion, masks at image size);
- panoptic+prompts(10): objects and 10 clicks in one decoder pass;
- prompts(k): ``set_image`` + k clicks at 1024x1024;
- re-prompt(k): k clicks on an image already set (SAM's use);
- image / video frame: ``set_image`` + ``panoptic()`` and one
  ``VideoPredictor.step`` at 1280x736.
"""
import argparse
import json

import torch

from rap_sam.benchmark import (RunOptions, markdown_table, measure_task,
                               model_info, rap_sam_tasks)
from rap_sam.inference import build_model, keep_freed_memory


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='RAP-SAM speed per task')
    parser.add_argument('config')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--prompts', type=int, nargs='*', default=[10])
    parser.add_argument('--tasks', nargs='*',
                        help='only these task names; default all')
    parser.add_argument('--half', action='store_true',
                        help='fp16 autocast (CUDA)')
    parser.add_argument('--image', default=None,
                        help='image resized to each input')
    parser.add_argument('--json', help='write the results to this file')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as the demos and compare_peers.py
    torch.manual_seed(0)
    opts = RunOptions(args.device, 'fp16' if args.half else 'fp32')
    model = opts.prepare(
        build_model(args.config, None, 'cpu', random_weights=True))
    info = model_info(model)
    rows = []
    for task in rap_sam_tasks(model, 'RAP-SAM', opts, args.prompts,
                              args.image):
        if args.tasks and task.name not in args.tasks:
            continue
        rows.append(
            dict(measure_task(task, opts, args.repeat, args.warmup), **info))
    base = next((r['median_s'] for r in rows if r['task'] == 'backbone'),
                None)
    print(f'config: {args.config}')
    print(f"params: {info['params_m']:.2f}M (backbone "
          f"{info.get('backbone_params_m', 0):.2f}M), device {args.device}, "
          f'threads {args.threads}, repeat {args.repeat}')
    print(markdown_table(rows))
    if base:
        print('x backbone: ' + ', '.join(
            f"{r['key']} {r['median_s'] / base:.2f}" for r in rows))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(config=args.config, threads=args.threads,
                           device=args.device, rows=rows, **info), f,
                      indent=1)


if __name__ == '__main__':
    main()
