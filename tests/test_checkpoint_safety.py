"""Checkpoints load weights-only: runner checkpoints do, crafted ones never."""
import os
import pickle
import subprocess
import sys

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner import load_checkpoint as mmengine_load_checkpoint

from conftest import CONFIG_DIR, REPO, load_config, load_script
from mmdet.registry import MODELS
from rap_sam.inference import build_model
from rap_sam.utils import UnsafeCheckpointError, load_checkpoint
from rap_sam.utils.checkpoint_safety import history_buffer_getattr

R18 = str(CONFIG_DIR / 'rap-sam_r18_8xb2-12e_coco-panoptic.py')


class Exploit:
    """Unpickling this runs a shell command that creates a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def runner_checkpoint(path, state_dict):
    """A checkpoint shaped as mmengine's runner writes it."""
    hub = MessageHub.get_instance('checkpoint_safety_test')
    for i in range(3):
        hub.update_scalar('train/loss', 1.0 / (i + 1))
    torch.save(
        dict(meta=dict(epoch=1, iter=3, seed=0,
                       message_hub=hub.state_dict()),
             state_dict=state_dict,
             optimizer=dict(state={}, param_groups=[dict(lr=0.1)])), path)
    return path


@pytest.fixture(scope='module')
def r18():
    return MODELS.build(
        load_config('rap-sam_r18_8xb2-12e_coco-panoptic.py').model)


def test_runner_checkpoint_loads_weights_only_everywhere(tmp_path, r18):
    path = runner_checkpoint(tmp_path / 'iter_3.pth', r18.state_dict())
    # mmengine's own loader (runner.resume, tools/test.py) takes it ...
    mmengine_load_checkpoint(r18, str(path), map_location='cpu')
    # ... and so does the project's, with the history buffers intact.
    ckpt = load_checkpoint(str(path))
    logs = ckpt['meta']['message_hub']['log_scalars']
    assert isinstance(logs['train/loss'], HistoryBuffer)
    assert logs['train/loss'].mean() == pytest.approx((1 + 1 / 2 + 1 / 3) /
                                                      3)


def test_runner_checkpoint_loads_when_the_user_forces_weights_only(
        tmp_path, r18):
    path = runner_checkpoint(tmp_path / 'iter_3.pth', r18.state_dict())
    code = ('import torch, rap_sam; '
            f'c = torch.load({str(path)!r}); '
            "print(type(c['meta']['message_hub']['log_scalars']"
            "['train/loss']).__name__)")
    env = dict(os.environ, TORCH_FORCE_WEIGHTS_ONLY_LOAD='1')
    out = subprocess.run([sys.executable, '-c', code], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith('HistoryBuffer')


def test_crafted_checkpoint_runs_nothing_in_any_loader(tmp_path, r18):
    marker = tmp_path / 'pwned'
    path = str(tmp_path / 'crafted.pth')
    torch.save(dict(state_dict=r18.state_dict(), meta=Exploit(marker)), path)
    with pytest.raises(UnsafeCheckpointError, match='crafted.pth') as err:
        build_model(R18, path, random_weights=True)
    assert 'system' in str(err.value) and '--unsafe-load' in str(err.value)
    with pytest.raises(pickle.UnpicklingError):
        mmengine_load_checkpoint(r18, path, map_location='cpu')
    converter = REPO / 'tools' / 'model_converters' / \
        'rapsam_official_to_mmdet.py'
    out = subprocess.run(
        [sys.executable, str(converter), path, str(tmp_path / 'out.pth')],
        capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and 'crafted.pth' in out.stderr
    assert not marker.exists()
    assert not (tmp_path / 'out.pth').exists()


def test_unsafe_load_is_explicit(tmp_path):
    marker = tmp_path / 'ran'
    path = str(tmp_path / 'legacy.pth')
    torch.save(dict(meta=Exploit(marker)), path)
    load_checkpoint(path, unsafe=True)
    assert marker.exists()


def test_guarded_getattr_serves_only_history_buffer_statistics():
    assert history_buffer_getattr(HistoryBuffer, 'mean') is \
        HistoryBuffer.mean
    for obj, name in ((HistoryBuffer, '__init__'), (os, 'system'),
                      (HistoryBuffer, '__class__')):
        with pytest.raises(pickle.UnpicklingError):
            history_buffer_getattr(obj, name)


def test_urls_and_missing_files_are_refused():
    with pytest.raises(ValueError, match='URL'):
        build_model(R18, 'https://example.com/rap_sam.pth',
                    random_weights=True)
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        build_model(R18, 'nope.pth', random_weights=True)


def test_checkpoint_of_another_backbone_is_an_error(tmp_path, r18):
    path = str(tmp_path / 'r18.pth')
    torch.save(dict(state_dict=r18.state_dict()), path)
    r50 = str(CONFIG_DIR / 'rap-sam_r50_8xb2-12e_coco-panoptic.py')
    with pytest.raises(ValueError, match='do not fit the model'):
        build_model(r50, path, random_weights=True)
    state = dict(r18.state_dict())
    state.pop('neck.coord_conv.weight')
    torch.save(dict(state_dict=state), path)
    with pytest.raises(ValueError, match='neck.coord_conv.weight'):
        build_model(R18, path, random_weights=True)
    model = build_model(R18, path, random_weights=True, strict=False)
    assert torch.equal(model.backbone.conv1.weight, r18.backbone.conv1.weight)


def test_resume_finds_checkpoints_without_last_checkpoint(tmp_path):
    train = load_script('tools', 'train.py')
    assert train.latest_checkpoint(str(tmp_path)) is None
    for i, name in enumerate(('iter_2.pth', 'iter_4.pth')):
        (tmp_path / name).write_bytes(b'x')
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    assert train.latest_checkpoint(str(tmp_path)).endswith('iter_4.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))
    assert train.latest_checkpoint(str(tmp_path)).endswith('iter_2.pth')
