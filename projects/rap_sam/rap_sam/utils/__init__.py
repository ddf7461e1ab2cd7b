from .allocator import keep_freed_memory, malloc_bytes_in_use
from .atomic_io import atomic_path, dump_json_atomic, write_image_atomic
from .checkpoint_safety import (UnsafeCheckpointError,
                                allow_mmengine_checkpoints, check_local,
                                load_checkpoint, unsafe_message)

__all__ = [
    'atomic_path', 'dump_json_atomic', 'write_image_atomic',
    'UnsafeCheckpointError', 'allow_mmengine_checkpoints', 'check_local',
    'keep_freed_memory', 'load_checkpoint', 'malloc_bytes_in_use',
    'unsafe_message'
]
