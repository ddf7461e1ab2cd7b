"""Training iterations per second of a config on random panoptic batches.

Each iteration is the runner's ``model.train_step``: data preprocessor,
forward with losses, their parsing for the log, and the config's optimiser
wrapper (backward, gradient clipping, step), with glibc's malloc and the
weights' memory format set as the configs' runner sets them
(``KeepFreedMemoryHook``, and ``ChannelsLastHook`` where the config's
``default_hooks.memory_format`` has it).

Example::

    python tools/analysis_tools/train_speed.py \
        configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py \
        --shapes 512x512 1280x736 --batch-size 2 --threads 2

With ``--profile``, each shape's iteration is broken down by part (data
preprocessor, backbone, neck, decoder, losses, backward, optimiser step)
with ``torch.profiler``, and the most expensive operators are listed.
"""
import argparse
import logging
import statistics
import time
from types import SimpleNamespace

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import HOOKS

from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
import rap_sam  # noqa: F401  (registers the modules)
from rap_sam.benchmark import breakdown_table, profile_training
from rap_sam.inference import use_random_embeddings
from rap_sam.utils import keep_freed_memory


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--shapes', nargs='+', default=['512x512', '1280x736'],
                        help='WxH input sizes')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--profile', action='store_true',
                        help='break an iteration down by part')
    return parser.parse_args()


def main():
    args = parse_args()
    register_all_modules()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as KeepFreedMemoryHook in the runner
    torch.manual_seed(0)
    cfg = use_random_embeddings(Config.fromfile(args.config))
    cfg.model.data_preprocessor.batch_augments = None
    model = MODELS.build(cfg.model).train()
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # one line per parameter group
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    logger.setLevel(level)
    memory_format = cfg.get('default_hooks', {}).get('memory_format')
    if memory_format:  # as the runner does, after building the optimiser
        HOOKS.build(memory_format).before_run(
            SimpleNamespace(model=model, logger=logger))
    head = model.panoptic_head
    print(f'{args.config}: batch {args.batch_size}, {args.threads} threads')
    for index, shape in enumerate(args.shapes):
        if index == 0 or args.profile:  # a table after each profile
            print('\n| input | s / iter (median) | iter / s |\n|---|---|---|')
        w, h = (int(v) for v in shape.split('x'))
        packed = demo_mm_inputs(args.batch_size, [(3, h, w)] *
                                args.batch_size, [8] * args.batch_size,
                                head.num_things_classes, with_mask=True,
                                with_semantic=True)
        for s in packed['data_samples']:
            s.gt_sem_seg.sem_seg = s.gt_sem_seg.sem_seg % head.num_classes
        times = []
        for i in range(args.iters + 1):
            start = time.perf_counter()
            model.train_step(packed, optim_wrapper)
            if i:  # the first iteration warms up
                times.append(time.perf_counter() - start)
        med = statistics.median(times)
        print(f'| {w}x{h} | {med:.2f} | {1 / med:.3f} |')
        if args.profile:
            result = profile_training(model, optim_wrapper, packed,
                                      iters=args.iters)
            print(f'\nProfile of a training iteration at {w}x{h} (mean of '
                  f'{args.iters}, ms):\n')
            print(breakdown_table(result))
            print(result['ops'])


if __name__ == '__main__':
    main()
