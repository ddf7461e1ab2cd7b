"""Check that every task's branch learns: memorise one fixed batch per task.

Trains a fresh RAP-SAM R18 (the demo's recipe and data: the real samples of
../shared/data, or synthetic ones) on one fixed batch of each task --
panoptic (COCO pseudo videos), video (DAVIS clips), click prompts, box
prompts -- and prints the Dice loss and mask IoU of that batch before and
after (see ``rap_sam.engine.memorisation``). A broken task stays near its
starting values.

Example::

    python tools/analysis_tools/memorise_batch.py --steps 150
    python tools/analysis_tools/memorise_batch.py --tasks points --steps 100 \
        --demo-args --prompt-prior 1
"""
import argparse
import json
import os.path as osp
import sys

import torch
from mmengine.registry import init_default_scope

from mmdet.registry import DATASETS, MODELS
from rap_sam.datasets.demo_data import prepare_demo_data
from rap_sam.engine.memorisation import memorise, stack_samples, summarise

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TASKS = ('panoptic', 'video', 'points', 'boxes')
# source index of the demo's joint config, and SamplePrompts.box_prob
SOURCES = dict(panoptic=(0, None), video=(1, None), points=(2, 0.),
               boxes=(2, 1.))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tasks', nargs='+', default=list(TASKS),
                        choices=TASKS)
    parser.add_argument('--steps', type=int, default=150)
    parser.add_argument('--lr', type=float, default=2e-4)
    parser.add_argument('--log-every', type=int, default=0)
    parser.add_argument('--work-dir', default='outputs/memorise_batch')
    parser.add_argument('--synthetic', action='store_true')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--out-json', help='write the results here')
    parser.add_argument('--demo-args', nargs=argparse.REMAINDER, default=[],
                        help='recipe options of demo/train_eval_demo.py')
    return parser.parse_args(argv)


def task_batch(cfg, task: str) -> dict:
    """Two samples of the task's source, augmented once, then fixed."""
    index, box_prob = SOURCES[task]
    source = cfg.train_dataloader.dataset.datasets[index]
    if box_prob is not None:
        for t in source.pipeline:
            if t['type'] == 'SamplePrompts':
                t['box_prob'] = box_prob
    return stack_samples(DATASETS.build(source), [0, 1])


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    sys.path.insert(0, osp.join(REPO, 'demo'))
    from train_eval_demo import build_embeddings, demo_config
    from train_eval_demo import parse_args as demo_parse_args
    demo_args = demo_parse_args(['--work-dir', args.work_dir] +
                                args.demo_args)
    shared = None if args.synthetic else osp.join(REPO, '..', 'shared',
                                                  'data')
    data = prepare_demo_data(osp.join(args.work_dir, 'data'), shared)
    embeddings = build_embeddings(
        osp.join(args.work_dir, 'data', 'embeddings'), demo_args.clip_model,
        None, True)
    cfg = demo_config(data, embeddings, demo_args)
    init_default_scope('mmdet')
    results = {}
    for task in args.tasks:
        torch.manual_seed(0)
        batch = task_batch(cfg, task)
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()
        results[task] = memorise(model, batch, args.steps, args.lr,
                                 args.log_every)
        print('\n'.join(summarise({task: results[task]})[2:]), flush=True)
    print('\n'.join(summarise(results)))
    if args.out_json:
        with open(args.out_json, 'w') as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    main()
