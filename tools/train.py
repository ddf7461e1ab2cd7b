"""Train a RAP-SAM model (mmdet's train entry point, plugin-aware).

Example::

    python tools/train.py configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py
    python tools/train.py CONFIG --resume            # from the last checkpoint
"""
import argparse
import glob
import os
import os.path as osp
import pickle
from typing import Optional

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmdet.utils import setup_cache_size_limit_of_dynamo
from rap_sam.utils import unsafe_message


def parse_args():
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the learning rate by the total batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CHECKPOINT, or from the latest checkpoint in the '
        'work dir when no path is given')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none')
    parser.add_argument(
        '--unsafe-load', action='store_true',
        help='unpickle the resumed checkpoint fully (runs any code it '
        'holds): only for a legacy file you trust')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def replace_sync_bn(node, norm_type: str) -> int:
    """Replace ``SyncBN`` norm configs by ``norm_type`` in place; return how
    many.

    torch's SyncBatchNorm refuses CPU tensors; on the CPU ``SyncBNCPU``
    all-reduces the statistics over gloo (and is ``BN`` in one process).
    """
    count = 0
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = norm_type
            count += 1
        for value in node.values():
            count += replace_sync_bn(value, norm_type)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += replace_sync_bn(value, norm_type)
    return count


def setup_cpu_distributed(cfg: Config) -> None:
    """``torchrun`` without CUDA: a gloo process group, DDP on CPU.

    mmengine's pytorch launcher calls ``torch.cuda.set_device``; with the
    group already initialised the runner skips it, and DDP of a CPU model
    must get no device ids.
    """
    import torch
    import torch.distributed as dist
    if torch.cuda.is_available():
        return
    if replace_sync_bn(cfg.model, 'SyncBNCPU'):
        print('No CUDA: SyncBN layers of the config synchronise over gloo '
              '(SyncBNCPU; BN in one process).')
    if cfg.launcher == 'none':
        return
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.model_wrapper_cfg = dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        find_unused_parameters=cfg.get('find_unused_parameters', False))


def latest_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint to resume in a work dir: ``last_checkpoint``'s, else
    the newest ``iter_*.pth`` / ``epoch_*.pth`` (a run killed before it
    wrote ``last_checkpoint``), else None."""
    from mmengine.runner import find_latest_checkpoint
    path = find_latest_checkpoint(work_dir)
    if path is not None and osp.isfile(path):
        return path
    found = glob.glob(osp.join(work_dir, 'iter_*.pth')) + glob.glob(
        osp.join(work_dir, 'epoch_*.pth'))
    return max(found, key=osp.getmtime) if found else None


def main():
    args = parse_args()
    if args.unsafe_load:
        os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'
    setup_cache_size_limit_of_dynamo()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    setup_cpu_distributed(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        # mmengine's own search reads `last_checkpoint` only, and with none
        # it trains from scratch over the checkpoints of the work dir.
        cfg.resume = True
        cfg.load_from = latest_checkpoint(cfg.work_dir)
        if cfg.load_from is None:
            print(f'--resume: no checkpoint in {cfg.work_dir}; starting '
                  'from scratch')
            cfg.resume = False
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    try:
        runner.train()
    except pickle.UnpicklingError as err:
        raise SystemExit(unsafe_message(cfg.load_from, err))


if __name__ == '__main__':
    main()
