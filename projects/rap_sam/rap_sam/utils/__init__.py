from .checkpoint_safety import (UnsafeCheckpointError,
                                allow_mmengine_checkpoints, check_local,
                                load_checkpoint, unsafe_message)

__all__ = [
    'UnsafeCheckpointError', 'allow_mmengine_checkpoints', 'check_local',
    'load_checkpoint', 'unsafe_message'
]
