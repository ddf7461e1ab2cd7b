from .checkpoint_safety import trust_mmengine_checkpoints

__all__ = ['trust_mmengine_checkpoints']
