"""tools/train.py, --resume, a 2-process gloo run equal to 1 process, and
mim train."""
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import time

import pytest

from conftest import REPO

PY = sys.executable


def tiny_config(tmp_path, iters: int, all_tasks: bool = False) -> str:
    """The demo's joint config on synthetic data, tiny and fast: its first
    source only, or with ``all_tasks`` its three sources (panoptic and
    video clips, prompts)."""
    sys.path.insert(0, str(REPO / 'demo'))
    from train_eval_demo import build_embeddings, demo_config, parse_args
    from rap_sam.datasets.demo_data import prepare_demo_data
    args = parse_args([
        '--work-dir', str(tmp_path / 'work'), '--iters', str(iters),
        '--size', '64', '96', '--minutes', '5'
    ])
    data = prepare_demo_data(str(tmp_path / 'data'), None)
    emb = build_embeddings(str(tmp_path / 'emb'), 'x', None, True)
    cfg = demo_config(data, emb, args)
    cfg.custom_hooks = [h for h in cfg.custom_hooks
                        if h['type'] != 'ProgressBarHook']
    cfg.default_hooks.checkpoint.interval = 2
    if not all_tasks:
        cfg.train_dataloader.dataset.datasets = \
            cfg.train_dataloader.dataset.datasets[:1]
        cfg.train_dataloader.batch_sampler.tasks = ['video']
        cfg.train_dataloader.batch_sampler.repeat_factors = [4.0]
    path = str(tmp_path / 'tiny.py')
    cfg.dump(path)
    return path


def run(cmd, cwd, timeout=600):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1',
               PYTHON=PY)
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def test_train_then_resume(tmp_path):
    cfg = tiny_config(tmp_path, 2)
    work = tmp_path / 'run'
    run([PY, 'tools/train.py', cfg, '--work-dir', str(work)], REPO)
    assert (work / 'iter_2.pth').exists()
    log = run([PY, 'tools/train.py', cfg, '--work-dir', str(work),
               '--resume', '--cfg-options', 'train_cfg.max_iters=4'], REPO)
    assert 'resumed epoch: 0, iter: 2' in log
    assert (work / 'iter_4.pth').exists()
    assert (work / 'loss_curves.png').exists()


def test_killed_run_resumes_and_bad_data_keeps_its_state(tmp_path):
    """A run killed after a checkpoint resumes from it; a resume that meets
    broken images fails naming one and leaves the checkpoints as they
    were; once the images are repaired the same command continues."""
    cfg = tiny_config(tmp_path, 100)
    work = tmp_path / 'run'
    last = work / 'last_checkpoint'
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=PY)
    proc = subprocess.Popen([PY, 'tools/train.py', cfg, '--work-dir',
                             str(work)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 600
        while not last.exists():
            assert proc.poll() is None, 'training ended before a checkpoint'
            assert time.time() < deadline, 'no checkpoint within 10 minutes'
            time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait()
    saved = last.read_text().strip()
    done = int(re.search(r'iter_(\d+)\.pth$', saved).group(1))
    checkpoints = sorted(p.name for p in work.glob('iter_*.pth'))

    # The tiny config trains on COCO pseudo videos: break their images.
    images = tmp_path / 'data' / 'synthetic' / 'coco_panoptic' / 'images'
    frames = [p for p in images.rglob('*') if p.suffix in ('.jpg', '.png')]
    assert frames
    originals = {p: p.read_bytes() for p in frames}
    for path in frames:
        path.write_bytes(b'broken')
    resume = [PY, 'tools/train.py', cfg, '--work-dir', str(work),
              '--resume', '--cfg-options', f'train_cfg.max_iters={done + 2}']
    out = subprocess.run(resume, cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode != 0
    assert any(p.name in out.stderr for p in frames), out.stderr[-3000:]
    assert last.read_text().strip() == saved
    assert sorted(p.name for p in work.glob('iter_*.pth')) == checkpoints

    for path, content in originals.items():
        path.write_bytes(content)
    log = run(resume, REPO)
    assert f'resumed epoch: 0, iter: {done}' in log
    assert (work / f'iter_{done + 2}.pth').exists()


KILL_HOOK = """
import os
import signal

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class KillAfterIterHook(Hook):
    priority = 'LOWEST'  # after the checkpoint hook

    def __init__(self, iteration):
        self.iteration = iteration

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.iteration:
            os.kill(os.getpid(), signal.SIGKILL)
"""


def final_weights(path):
    import torch
    return torch.load(path, map_location='cpu',
                      weights_only=False)['state_dict']


def test_resumed_run_equals_an_uninterrupted_one(tmp_path):
    """Killed (SIGKILL) after iteration 3 of 4 with a checkpoint at 2, then
    resumed: the final weights equal those of a run never interrupted
    (optimizer, scheduler, data order and random states restored)."""
    cfg = tiny_config(tmp_path, 4)
    (tmp_path / 'kill_hook.py').write_text(KILL_HOOK)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=PY,
               PYTHONPATH=f'{tmp_path}{os.pathsep}' +
               os.environ.get('PYTHONPATH', ''))
    whole, killed = tmp_path / 'whole', tmp_path / 'killed'
    run([PY, 'tools/train.py', cfg, '--work-dir', str(whole)], REPO)
    from mmengine.config import Config
    kill_cfg = Config.fromfile(cfg)
    kill_cfg.custom_imports = dict(
        imports=[*kill_cfg.custom_imports.imports, 'kill_hook'],
        allow_failed_imports=False)
    kill_cfg.custom_hooks.append(dict(type='KillAfterIterHook', iteration=3))
    kill_cfg.dump(str(tmp_path / 'kill.py'))
    crash = subprocess.run(
        [PY, 'tools/train.py', str(tmp_path / 'kill.py'), '--work-dir',
         str(killed)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert crash.returncode == -9, crash.stderr[-3000:]
    assert (killed / 'iter_2.pth').exists()
    assert not (killed / 'iter_4.pth').exists()
    log = run([PY, 'tools/train.py', cfg, '--work-dir', str(killed),
               '--resume'], REPO)
    assert 'restored the random states' in log
    a = final_weights(whole / 'iter_4.pth')
    b = final_weights(killed / 'iter_4.pth')
    assert a.keys() == b.keys()
    diff = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    print(f'max abs weight difference, resumed vs uninterrupted: {diff}')
    assert diff == 0.0


RANK_INVARIANT_DRAWS = """
import random

import numpy as np
import torch
from mmengine.dataset import BaseDataset

_getitem = BaseDataset.__getitem__


def _seeded_getitem(self, idx):
    # Augmentation and prompt draws of a sample depend on the sample only,
    # not on which process loads it, nor after which other samples.
    np.random.seed(idx)
    random.seed(idx)
    return _getitem(self, idx)


BaseDataset.__getitem__ = _seeded_getitem
_STEPS = torch.tensor([0.7548776662466927, 0.5698402909980532,
                       0.6180339887498949], dtype=torch.float64)


def _rank_invariant_rand(*size, dtype=None, device=None, **kwargs):
    # The loss's point sampling (mmdet's torch.rand of (masks, points, 2)):
    # the same low-discrepancy points for every mask, wherever it lies in
    # a batch.
    if len(size) == 1 and not isinstance(size[0], int):
        size = tuple(size[0])
    points = size[-2] if len(size) > 1 else 1
    index = torch.arange(1, points + 1, dtype=torch.float64)[:, None]
    steps = _STEPS[torch.arange(size[-1]) % len(_STEPS)]
    grid = torch.frac(0.5 + index * steps).to(dtype or torch.float32)
    return grid.reshape((1, ) * (len(size) - 2) + grid.shape[-2:]).expand(
        size).contiguous().to(device)


torch.rand = _rank_invariant_rand
"""


def test_two_process_run_equals_one_process(tmp_path):
    """2 gloo processes of batch 2 end with the weights of 1 process of
    batch 4 (same samples per iteration: TaskBatchSampler deals each draw
    to the ranks; losses normalised over all ranks; SyncBN as SyncBNCPU).
    The random draws that are per process by design (augmentation, prompt
    sampling, the losses' point sampling) are made per sample here."""
    from mmengine.config import Config
    (tmp_path / 'rank_invariant_draws.py').write_text(RANK_INVARIANT_DRAWS)
    cfg = Config.fromfile(tiny_config(tmp_path, 3, all_tasks=True))
    assert cfg.model.neck.norm_cfg.type == 'SyncBN'  # the joint config's
    cfg.custom_imports = dict(
        imports=[*cfg.custom_imports.imports, 'rank_invariant_draws'],
        allow_failed_imports=False)
    cfg.custom_hooks = [h for h in cfg.custom_hooks
                        if h['type'] != 'TimeBudgetHook']
    cfg.default_hooks.checkpoint.interval = 3
    # one layout in both runs (the wrapped 2-process model keeps NCHW):
    # channels-last changes the float rounding, not what is compared here
    cfg.default_hooks.memory_format.devices = ()
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1',
               PYTHON=PY, PORT=str(29500 + (os.getpid() + 7) % 1000),
               PYTHONPATH=f'{tmp_path}{os.pathsep}' +
               os.environ.get('PYTHONPATH', ''))
    weights = {}
    for procs, batch in ((1, 4), (2, 2)):
        cfg.train_dataloader.batch_size = batch
        path = tmp_path / f'ddp{procs}.py'
        cfg.dump(str(path))
        work = tmp_path / f'run{procs}'
        if procs == 1:
            cmd = [PY, 'tools/train.py', str(path), '--work-dir', str(work)]
        else:
            cmd = ['bash', 'tools/dist_train.sh', str(path), '2',
                   '--work-dir', str(work)]
        out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=600)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        weights[procs] = final_weights(work / 'iter_3.pth')
        if procs == 2:
            assert 'synchronise over gloo' in out.stdout + out.stderr
    a, b = weights[1], weights[2]
    assert a.keys() == b.keys()
    diffs = {k: (a[k].double() - b[k].double()).abs().max().item()
             for k in a if a[k].is_floating_point()}
    worst = max(diffs, key=diffs.get)
    print(f'max abs weight difference, 2 processes vs 1: {diffs[worst]:.3g}'
          f' ({worst})')
    assert diffs[worst] < 1e-4, (worst, diffs[worst])


def test_mim_train_finds_the_plugin(tmp_path):
    if shutil.which('mim', path=osp.dirname(PY)) is None:
        pytest.skip('openmim is not installed')
    cfg = tiny_config(tmp_path, 2)
    work = tmp_path / 'mim'
    run([osp.join(osp.dirname(PY), 'mim'), 'train', 'mmdet', cfg,
         '--work-dir', str(work)], tmp_path)
    assert (work / 'iter_2.pth').exists()
