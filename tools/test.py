"""Evaluate a RAP-SAM checkpoint on a benchmark with mmdet's test loop.

Prints one markdown table of every metric (task, dataset, metric, value,
images/s) after the run; ``--out-json`` also writes it (atomically).

Examples::

    python tools/test.py configs/rap_sam/rap-sam_r50_test_coco-panoptic.py \
        checkpoints/rap-sam_r50.pth --out-json work_dirs/coco.json
    python tools/test.py configs/rap_sam/rap-sam_r50_test_ytvis-2019.py \
        checkpoints/rap-sam_r50.pth --show-dir work_dirs/vis

mmdet's own flags work as in mmdet's ``tools/test.py``: ``--out FILE.pkl``
(the predictions, with ``DumpDetResults``), ``--show`` / ``--show-dir`` /
``--wait-time`` (the config's visualization hook), ``--tta`` (the config's
``tta_model`` and ``tta_pipeline``; RAP-SAM's configs define none, since
mmdet's ``DetTTAModel`` merges boxes, not masks).

The table comes from ``BenchmarkTableHook`` (added here when the config
lacks it), so ``mim test mmdet CONFIG --checkpoint CKPT`` prints it too.
"""
import argparse
import json
import os
import os.path as osp
import pickle
import tempfile
from typing import List, Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmdet.engine.hooks.utils import trigger_visualization_hook
from mmdet.evaluation import DumpDetResults
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
        '--out', help='dump the predictions to this pickle file (mmdet)')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir', help='save visualisations in this folder')
    parser.add_argument(
        '--wait-time', type=float, default=2,
        help='the interval of --show (s)')
    parser.add_argument(
        '--tta', action='store_true',
        help="test-time augmentation with the config's tta_model")
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
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'--out {args.out}: the output file must be a pkl file')
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


def check_arguments(args: argparse.Namespace) -> None:
    """Fail before any work on arguments that cannot succeed.

    Raises:
        SystemExit: Naming the argument: a config that is not a Python
            file (or config and checkpoint given the wrong way round), a
            missing config, an output file that cannot be written.
    """
    if args.config.endswith(('.pth', '.pt', '.ckpt')) or \
            args.checkpoint.endswith('.py'):
        raise SystemExit(
            f'config {args.config!r} and checkpoint {args.checkpoint!r} '
            'look swapped: the config (a .py file) comes first, then the '
            'checkpoint')
    if not osp.isfile(args.config):
        raise SystemExit(f'config {args.config!r} does not exist')
    for flag, path in (('--out-json', args.out_json), ('--out', args.out)):
        if path is not None:
            check_writable(flag, path)


def check_writable(flag: str, path: str) -> None:
    """Create the folder of ``path`` and try a file in it."""
    folder = osp.dirname(osp.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise SystemExit(f'{flag} {path}: cannot write there ({err})')
    if osp.isdir(path):
        raise SystemExit(f'{flag} {path}: is a folder')


def annotation_files(cfg: Config) -> List[str]:
    """The JSON annotation files the test dataset and metrics read."""
    files = []
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    ann_file = dataset.get('ann_file')
    if ann_file:
        files.append(ann_file if osp.isabs(ann_file) else osp.join(
            dataset.get('data_root') or '', ann_file))
    evaluators = cfg.get('test_evaluator', [])
    for metric in evaluators if isinstance(evaluators, list) else \
            [evaluators]:
        if metric.get('ann_file'):
            files.append(metric['ann_file'])
    return [f for f in files if f.endswith('.json')]


def check_annotations(cfg: Config) -> None:
    """Parse each annotation file that exists, so that an empty or
    truncated one is reported by name (a missing one is mmdet's error).

    Raises:
        SystemExit: Naming the file and where the JSON breaks.
    """
    for path in annotation_files(cfg):
        if not osp.isfile(path):
            continue
        try:
            with open(path, 'rb') as f:
                json.load(f)
        except (ValueError, UnicodeDecodeError) as err:
            raise SystemExit(f'annotation file {path} is not valid JSON '
                             f'(empty or truncated?): {err}')


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
    if args.show or args.show_dir:
        if args.show_dir:
            args.show_dir = osp.abspath(args.show_dir)
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise SystemExit(
                f'--tta: {args.config} defines no tta_model and '
                "tta_pipeline (mmdet's DetTTAModel merges boxes, not "
                'the masks RAP-SAM predicts)')
        cfg.model = dict(**cfg.tta_model, module=cfg.model)
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    return cfg


def build_runner(args: argparse.Namespace) -> Runner:
    """The runner of the test config."""
    check_arguments(args)
    try:
        check_local(args.checkpoint)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(str(err))
    if args.unsafe_load:
        os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'
    cfg = build_config(args)
    check_annotations(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else \
        RUNNERS.build(cfg)
    if args.out is not None:
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out))
    return runner


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
