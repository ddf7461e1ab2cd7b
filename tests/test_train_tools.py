"""tools/train.py, --resume, a 2-process gloo run, and mim train."""
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

PY = sys.executable


def tiny_config(tmp_path, iters: int) -> str:
    """The demo's joint config on synthetic data, tiny and fast."""
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


def test_two_process_gloo_run(tmp_path):
    cfg = tiny_config(tmp_path, 2)
    work = tmp_path / 'dist'
    env_port = str(29500 + os.getpid() % 1000)
    os.environ['PORT'] = env_port
    run(['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', str(work)],
        REPO)
    assert (work / 'iter_2.pth').exists()


def test_mim_train_finds_the_plugin(tmp_path):
    if shutil.which('mim', path=osp.dirname(PY)) is None:
        pytest.skip('openmim is not installed')
    cfg = tiny_config(tmp_path, 2)
    work = tmp_path / 'mim'
    run([osp.join(osp.dirname(PY), 'mim'), 'train', 'mmdet', cfg,
         '--work-dir', str(work)], tmp_path)
    assert (work / 'iter_2.pth').exists()
