"""The README's "Fine-tune on your own data" guide, run end to end.

Every command is read from the guide's code blocks in README.md and run as
written, on the toy datasets the guide itself generates, with only these
substitutions (nothing can be downloaded here, and there are 2 CPU cores):

- the commands run in a scratch project folder that links ``configs/``,
  ``tools/`` and ``demo/`` of the repository, so the guide's relative paths
  (``data/my_dataset/``, ``work_dirs/``, ``outputs/``) land in it;
- ``python`` is this interpreter (``PYTHON`` for ``tools/dist_train.sh``);
- ``--pretrained TAG`` of ``tools/build_text_embeddings.py`` becomes
  ``--random-weights``;
- training runs a config derived from the example config (pipelines at
  96x128, no dataloader workers, 1024 sampled points per mask), with
  ``--cfg-options load_from=CKPT train_cfg.max_iters=N``: CKPT is the paper
  joint config's R18 model (154 COCO + YouTube-VIS classes) with random
  weights, saved as a checkpoint, which stands for a RAP-SAM checkpoint
  trained on COCO; ``iter_2000.pth`` then becomes ``iter_N.pth``;
- the video data lives in ``videos/`` with ``CUSTOM_VIS_ROOT`` set, to
  exercise the environment variable (the panoptic data is at the default
  root).

Evaluation and the image demo use the example configs unchanged. With
``-s`` the wall time of each step, the metrics and the files written are
printed. The metrics of a random model after a few iterations are zero;
the test checks that they are there, finite and about the right classes.
"""
import json
import math
import os
import os.path as osp
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Dict, List

import pytest
import torch
from PIL import Image

from conftest import REPO

PY = sys.executable
SECTION = '## Fine-tune on your own data'
PANOPTIC_CONFIG = ('configs/rap_sam/examples/'
                   'rap-sam_r18_finetune_custom-panoptic.py')
VIS_CONFIG = 'configs/rap_sam/examples/rap-sam_r18_finetune_custom-vis.py'
JOINT_CONFIG = 'configs/rap_sam/rap-sam_r18_8xb2-12e_coco-ytvis-sam.py'
CLASSES = ('lego brick', 'marble', 'felt mat', 'backdrop')
VIDEO_CLASSES = ('lego brick', 'marble')
SIZE = (96, 128)  # (h, w) of the toy data and of the training pipelines
TRAIN_ITERS = 6
DIST_ITERS = 2
TIMES: Dict[str, float] = {}


# --- the guide, read from README.md -----------------------------------------

def free_port() -> int:
    """A TCP port nothing listens on now (for torchrun's rendezvous)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def guide_text() -> str:
    """The guide's section of README.md."""
    text = (REPO / 'README.md').read_text(encoding='utf-8')
    assert SECTION in text, f'README.md has no "{SECTION}" section'
    return text.split(SECTION, 1)[1].split('\n## ', 1)[0]


def code_blocks(lang: str) -> List[str]:
    return re.findall(rf'```{lang}\n(.*?)```', guide_text(), re.S)


def guide_commands() -> List[str]:
    """The shell commands of the guide, continuation lines joined,
    here-document bodies left out."""
    commands = []
    for block in code_blocks('bash'):
        block = re.sub(r"<< 'EOF'\n.*?\nEOF\n", "<< 'EOF'\n", block,
                       flags=re.S)
        block = re.sub(r'\\\n\s*', '', block)
        commands += [
            line.strip() for line in block.splitlines()
            if line.strip() and not line.lstrip().startswith('#')
        ]
    return commands


def guide_command(*parts: str) -> List[str]:
    """The one command of the guide that contains all ``parts``, split."""
    found = [c for c in guide_commands() if all(p in c for p in parts)]
    assert len(found) == 1, f'commands with {parts}: {found}'
    return shlex.split(found[0])


def guide_python(*parts: str) -> str:
    """The one Python block of the guide that contains all ``parts``."""
    found = [b for b in code_blocks('python') if all(p in b for p in parts)]
    assert len(found) == 1, f'Python blocks with {parts}: {found}'
    return found[0]


def guide_heredoc(path: str) -> str:
    """The body of the guide's ``cat > path << 'EOF'``."""
    match = re.search(rf"cat > {re.escape(path)} << 'EOF'\n(.*?\n)EOF\n",
                      guide_text(), re.S)
    assert match, f'no here-document writing {path} in the guide'
    return match.group(1)


# --- running it -------------------------------------------------------------
@contextmanager
def step(name: str):
    """Time a step of the guide and print it."""
    start = time.perf_counter()
    yield
    TIMES[name] = time.perf_counter() - start
    print(f'[guide] {name}: {TIMES[name]:.2f} s', flush=True)


def localise(args: List[str], replace: Dict[str, str] = None) -> List[str]:
    """A guide command as this test runs it (see the module docstring)."""
    args = [PY if a == 'python' else a for a in args]
    if '--pretrained' in args:
        i = args.index('--pretrained')
        args[i:i + 2] = ['--random-weights']
    for old, new in (replace or {}).items():
        args = [a.replace(old, new) for a in args]
    return args


def run(args: List[str], cwd, env: Dict[str, str] = None) -> str:
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1',
               PYTHON=PY, **(env or {}))
    print('[guide] $ ' + ' '.join(shlex.quote(a) for a in args), flush=True)
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, f'{args} failed:\n{log[-6000:]}'
    return log


def small_config(project, config: str, out: str) -> str:
    """The example config with 96x128 pipelines, for a CPU test run."""
    from mmengine.config import Config
    from rap_sam.datasets.pipeline_utils import resize_pipeline
    cfg = Config.fromfile(str(project / config))
    for source in cfg.train_dataloader.dataset.datasets:
        source.pipeline = resize_pipeline(source.pipeline, SIZE)
    for key in ('val_dataloader', 'test_dataloader'):
        cfg[key].dataset.pipeline = resize_pipeline(
            cfg[key].dataset.pipeline, SIZE)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    cfg.model.train_cfg.num_points = 1024
    cfg.dump(str(project / out))
    return out


def check_loaded(log: str, checkpoint: str) -> None:
    """tools/train.py loaded ``checkpoint`` whole, without a warning."""
    assert f'Load checkpoint from {checkpoint}' in log, log[-3000:]
    assert 'do not match exactly' not in log, log[-3000:]


def max_weight_change(before: str, after: str) -> float:
    """Largest change of a learnt tensor between two checkpoints."""
    a = torch.load(before, map_location='cpu', weights_only=True)
    b = torch.load(after, map_location='cpu', weights_only=True)
    a, b = a['state_dict'], b['state_dict']
    return max((a[k].float() - b[k].float()).abs().max().item()
               for k in a if a[k].is_floating_point()
               and 'running_' not in k)


def table(path: str) -> Dict[str, float]:
    """``metric: value`` of a ``--out-json`` table; values are finite."""
    with open(path) as f:
        rows = json.load(f)['rows']
    values = {r['metric']: r['value'] for r in rows}
    assert all(math.isfinite(v) for v in values.values()), values
    print('[guide] metrics: ' +
          ', '.join(f'{k} {v:.2f}' for k, v in values.items()))
    return {r['task'] + '/' + r['metric']: r['value'] for r in rows}


def print_times() -> None:
    """Print the wall time of each step so far."""
    print(f'[guide] wall time per step (total {sum(TIMES.values()):.1f} s):')
    for name, seconds in TIMES.items():
        print(f'[guide]   {seconds:6.2f} s  {name}')


def written(project, *folders: str) -> None:
    """Print the files the guide wrote under ``folders``."""
    for folder in folders:
        for root, _, files in sorted(os.walk(project / folder)):
            for name in sorted(files):
                path = osp.join(root, name)
                print(f'[guide] wrote {osp.relpath(path, project)} '
                      f'({osp.getsize(path) / 1e6:.2f} MB)')


# --- fixtures ---------------------------------------------------------------
@pytest.fixture(scope='module')
def project(tmp_path_factory):
    """A folder to run the guide in: ``configs``, ``tools``, ``demo`` of
    the repository, linked; removed at the end."""
    root = tmp_path_factory.mktemp('guide')
    for name in ('configs', 'tools', 'demo'):
        os.symlink(REPO / name, root / name)
    yield root
    shutil.rmtree(root)  # checkpoints of 250 MB each


@pytest.fixture(scope='module')
def panoptic_data(project):
    """Steps 1 and 2 of the guide: the toy panoptic dataset, its class
    file and its text embeddings."""
    cwd = os.getcwd()
    os.chdir(project)
    try:
        with step('1. make the toy panoptic dataset (in-process)'):
            exec(guide_python('make_custom_panoptic('), {})
    finally:
        os.chdir(cwd)
    root = project / 'data' / 'my_dataset'
    with open(root / 'annotations' / 'panoptic_train.json') as f:
        categories = json.load(f)['categories']
    assert [c['name'] for c in categories] == list(CLASSES)
    assert [c['isthing'] for c in categories] == [1, 1, 0, 0]
    # The class file, as the guide writes it: things first, JSON order.
    text = guide_heredoc('data/my_dataset/classes.txt')
    assert [line.split(',')[0] for line in text.splitlines()] == list(CLASSES)
    (root / 'classes.txt').write_text(text)
    with step('2. text embeddings (build_text_embeddings.py, random '
              'weights)'):
        log = run(
            localise(
                guide_command('tools/build_text_embeddings.py',
                              'data/my_dataset/classes.txt',
                              '--pretrained')), project)
    print('[guide] ' + log.strip().splitlines()[0])
    assert (root / 'classes_convnext_large_d_320.pth').exists()
    return root


@pytest.fixture(scope='module')
def pretrained(project):
    """A checkpoint of the paper joint config's model (154 classes), random
    weights: the stand-in for a RAP-SAM checkpoint trained on COCO."""
    from rap_sam.inference import build_model
    with step('3. load_from: a COCO-vocabulary checkpoint (in-process)'):
        torch.manual_seed(0)
        model = build_model(str(REPO / JOINT_CONFIG), random_weights=True)
        assert model.panoptic_head.classifier.num_classes == 154
        path = str(project / 'checkpoints' / 'coco_r18.pth')
        os.makedirs(osp.dirname(path))
        torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


# --- the tests --------------------------------------------------------------
def test_config_lines_of_the_guide_are_the_example_config():
    """The lines the guide shows from the example config are in it."""
    config = (REPO / PANOPTIC_CONFIG).read_text()
    snippet = guide_python("_base_ = '../rap-sam_r18_8xb2-12e_coco-ytvis-"
                           "sam.py'", 'thing_classes')
    for line in snippet.splitlines():
        code = line.split('  #')[0].rstrip()
        if code:
            assert re.search(rf'^{re.escape(code)}$', config, re.M), code
    vis = (REPO / VIS_CONFIG).read_text()
    assert "classes = ('lego brick', 'marble')" in vis


def test_panoptic_guide(project, panoptic_data, pretrained):
    """Steps 3 to 6 on the toy panoptic dataset."""
    iters = {'iter_2000.pth': f'iter_{TRAIN_ITERS}.pth'}
    small = small_config(project, PANOPTIC_CONFIG, 'small_panoptic.py')
    work = project / 'work_dirs' / 'my_dataset'

    train = localise(
        guide_command('python tools/train.py', PANOPTIC_CONFIG),
        {PANOPTIC_CONFIG: small})
    with step(f'4. train, 1 process, {TRAIN_ITERS} iterations'):
        log = run(train + [
            '--cfg-options', f'load_from={pretrained}',
            f'train_cfg.max_iters={TRAIN_ITERS}',
            f'default_hooks.checkpoint.interval={TRAIN_ITERS}'
        ], project)
    check_loaded(log, pretrained)
    assert 'Scaling the original LR by 0.125' in log  # 1 x 2 of 16
    assert 'Classwise Panoptic Evaluation Results' in log  # validation
    ckpt = work / f'iter_{TRAIN_ITERS}.pth'
    change = max_weight_change(pretrained, str(ckpt))
    print(f'[guide] largest weight change from the loaded checkpoint: '
          f'{change:.2e}')
    assert change < 1e-2  # trained from it, not from a fresh init
    meta = torch.load(ckpt, map_location='cpu', weights_only=True)['meta']
    assert tuple(meta['dataset_meta']['classes']) == CLASSES

    dist = localise(
        guide_command('bash tools/dist_train.sh', PANOPTIC_CONFIG),
        {PANOPTIC_CONFIG: small})
    with step(f'4. train, 2 processes (dist_train.sh), {DIST_ITERS} '
              'iterations'):
        log = run(dist + [
            '--cfg-options', f'load_from={pretrained}',
            f'train_cfg.max_iters={DIST_ITERS}'
        ], project, env=dict(PORT=str(free_port())))
    check_loaded(log, pretrained)
    assert 'Scaling the original LR by 0.25' in log  # 2 x 2 of 16
    assert (project / 'work_dirs' / 'my_dataset_2proc' /
            f'iter_{DIST_ITERS}.pth').exists()

    test = localise(
        guide_command('python tools/test.py', PANOPTIC_CONFIG), iters)
    with step('5. tools/test.py on the validation split (example config, '
              '1333x800)'):
        log = run(test, project)
    metrics = table(str(work / 'table.json'))
    for name in ('PQ', 'SQ', 'RQ', 'PQ_th', 'PQ_st'):
        assert f'panoptic/{name}' in metrics
    classwise = log.split('Classwise Panoptic Evaluation Results', 1)[1]
    classwise = classwise.split('\n\n', 1)[0].split(' - mmengine - ')[0]
    for name in CLASSES:
        assert f'| {name} ' in classwise, classwise
    assert 'person' not in classwise

    demo = localise(guide_command('python demo/image_demo.py'), iters)
    with step('6. image demo (panoptic + 1 click, example config)'):
        log = run(demo, project)
    print('[guide] ' + ' | '.join(
        line for line in log.splitlines() if ' -> ' in line))
    out = project / 'outputs' / 'my_dataset'
    for name in ('panoptic.png', 'prompts_points.png'):
        with Image.open(out / name) as image:
            image.load()
            assert image.size == (SIZE[1], SIZE[0]), (name, image.size)
    guide_command('python demo/web_demo.py', PANOPTIC_CONFIG)  # documented
    written(project, 'work_dirs/my_dataset', 'outputs/my_dataset')
    print_times()


def test_video_guide(project, panoptic_data, pretrained, monkeypatch):
    """Step 7 on the toy videos, in ``videos/`` with CUSTOM_VIS_ROOT."""
    code = guide_python('make_custom_ytvis(', 'ytvis_to_cocovid(')
    monkeypatch.chdir(project)
    with step('7. make the toy videos and convert them to CocoVID '
              '(in-process)'):
        exec(code.replace('data/my_videos', 'videos'), {})
    root = project / 'videos'
    # The embeddings of step 2 hold the video classes too: the classifier
    # takes the config's classes, in its order.
    shutil.copy(panoptic_data / 'classes_convnext_large_d_320.pth', root)
    monkeypatch.setenv('CUSTOM_VIS_ROOT', 'videos/')
    env = dict(CUSTOM_VIS_ROOT='videos/')
    replace = {'data/my_videos/': 'videos/'}
    small = small_config(project, VIS_CONFIG, 'small_vis.py')
    work = project / 'work_dirs' / 'my_videos'

    train = localise(guide_command('python tools/train.py', VIS_CONFIG),
                     {VIS_CONFIG: small, **replace})
    with step(f'7. train on the clips, {TRAIN_ITERS} iterations'):
        log = run(train + [
            '--cfg-options', f'load_from={pretrained}',
            f'train_cfg.max_iters={TRAIN_ITERS}',
            f'default_hooks.checkpoint.interval={TRAIN_ITERS}'
        ], project, env)
    check_loaded(log, pretrained)
    assert 'youtube_vis/segm_mAP' in log  # validation at the end
    ckpt = work / f'iter_{TRAIN_ITERS}.pth'
    meta = torch.load(ckpt, map_location='cpu', weights_only=True)['meta']
    assert tuple(meta['dataset_meta']['classes']) == VIDEO_CLASSES

    test = localise(
        guide_command('python tools/test.py', VIS_CONFIG), {
            'iter_2000.pth': f'iter_{TRAIN_ITERS}.pth',
            **replace
        })
    with step('7. tools/test.py on the validation clips (example config, '
              '1280x736)'):
        run(test, project, env)
    metrics = table(str(work / 'table.json'))
    for name in ('segm_mAP', 'segm_mAP_50', 'segm_mAP_75'):
        assert f'video instance/{name}' in metrics
    written(project, 'work_dirs/my_videos')
    print_times()
