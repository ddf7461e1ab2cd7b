"""Evaluate a RAP-SAM checkpoint on a benchmark with mmdet's test loop.

Prints one markdown table of every metric (task, dataset, metric, value,
images/s) after the run; ``--out-json`` also writes it (atomically).

Examples::

    python tools/test.py configs/rap_sam/rap-sam_r50_test_coco-panoptic.py \
        checkpoints/rap-sam_r50.pth --out-json work_dirs/coco.json
    python tools/test.py configs/rap_sam/rap-sam_r50_test_ytvis-2019.py \
        checkpoints/rap-sam_r50.pth --show-dir work_dirs/vis

The table comes from ``BenchmarkTableHook`` (added here when the config
lacks it), so ``mim test mmdet CONFIG --checkpoint CKPT`` prints it too.
"""
import argparse
import pickle
import os
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmdet.utils import setup_cache_size_limit_of_dynamo
from rap_sam.utils import check_local, unsafe_message

TABLE_HOOK = 'BenchmarkTableHook'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and results')
    parser.add_argument(
        '--out-json', help='write the metrics table here as JSON')
    parser.add_argument(
        '--show-dir', help='save visualisations in this folder')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none')
    parser.add_argument(
        '--unsafe-load', action='store_true',
        help='unpickle the checkpoint fully (runs any code it holds): only '
        'for a legacy file you trust')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def add_table_hook(cfg: Config, **kwargs) -> None:
    """Give the config a ``BenchmarkTableHook`` (updated with ``kwargs``)
    when it has none."""
    hooks: List[dict] = [dict(h) for h in cfg.get('custom_hooks', []) or []]
    for hook in hooks:
        if hook.get('type') == TABLE_HOOK:
            hook.update(kwargs)
            break
    else:
        hooks.append(dict(type=TABLE_HOOK, **kwargs))
    cfg.custom_hooks = hooks


def build_config(args: argparse.Namespace) -> Config:
    """The test config with the command line applied."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    add_table_hook(cfg, **(dict(out_file=osp.abspath(args.out_json))
                           if args.out_json else {}))
    if args.show_dir:
        visualization = cfg.default_hooks.visualization
        visualization.draw = True
        visualization.test_out_dir = osp.abspath(args.show_dir)
    return cfg


def build_runner(args: argparse.Namespace) -> Runner:
    """The runner of the test config."""
    try:
        check_local(args.checkpoint)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(str(err))
    if args.unsafe_load:
        os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'
    cfg = build_config(args)
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else \
        RUNNERS.build(cfg)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    setup_cache_size_limit_of_dynamo()
    runner = build_runner(args)
    try:
        return runner.test()
    except pickle.UnpicklingError as err:
        raise SystemExit(unsafe_message(args.checkpoint, err))


if __name__ == '__main__':
    main()
