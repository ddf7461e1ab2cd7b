"""The configs' runner sets glibc's malloc through KeepFreedMemoryHook."""
import logging
from types import SimpleNamespace

from mmengine.config import Config
from mmengine.registry import HOOKS

import rap_sam  # noqa: F401  (registers the hook)
from rap_sam.engine.hooks import KeepFreedMemoryHook, keep_freed_memory_hook

CONFIG = 'configs/rap_sam/rap-sam_r18_test_coco-panoptic.py'


def test_configs_register_the_hook_and_it_applies_before_the_run(
        monkeypatch):
    cfg = Config.fromfile(CONFIG)
    hook = HOOKS.build(cfg.default_hooks.malloc)
    assert isinstance(hook, KeepFreedMemoryHook)
    calls = []
    monkeypatch.setattr(keep_freed_memory_hook, 'keep_freed_memory',
                        lambda *args: calls.append(args) or True)
    hook.before_run(SimpleNamespace(logger=logging.getLogger('test')))
    assert calls == [(1024, 32)]
