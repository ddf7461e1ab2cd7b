"""Apply :func:`keep_freed_memory` to training and test runs."""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from rap_sam.utils import keep_freed_memory


@HOOKS.register_module()
class KeepFreedMemoryHook(Hook):
    """Set glibc's malloc to keep freed tensor memory, before a run.

    See :func:`rap_sam.utils.keep_freed_memory`: fewer page faults, so
    faster CPU iterations (512x512 training 1.41 -> 1.32 s, fp32 inference
    about 20 %). A no-op outside glibc. The configs' default runtime
    registers it as ``default_hooks.malloc``.

    Args:
        pad_mb (int): See :func:`keep_freed_memory`.
        mmap_threshold_mb (int): Ditto.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 pad_mb: int = 1024,
                 mmap_threshold_mb: int = 32) -> None:
        self.pad_mb = pad_mb
        self.mmap_threshold_mb = mmap_threshold_mb

    def before_run(self, runner) -> None:
        if keep_freed_memory(self.pad_mb, self.mmap_threshold_mb):
            runner.logger.info(
                f'glibc malloc keeps {self.pad_mb} MiB of freed memory, '
                f'mmaps from {self.mmap_threshold_mb} MiB '
                '(KeepFreedMemoryHook)')
