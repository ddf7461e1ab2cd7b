"""Loading mmengine runner checkpoints with torch >= 2.6.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``. mmengine
0.10.7 loads and resumes checkpoints with a plain ``torch.load``, and its
runner checkpoints pickle more than tensors (the message hub's history
buffers, numpy state, reached through ``getattr``), which the weights-only
loader refuses; allowlisting ``getattr`` would void its protection anyway.
So the entry points that load runner checkpoints (training with
``--resume``, testing, the demos and predictors) opt back into full
unpickling with torch's own switch. Load only checkpoints you trust.
"""
import os

TORCH_SWITCH = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'


def trust_mmengine_checkpoints() -> None:
    """Let ``torch.load`` (as mmengine calls it) read runner checkpoints.

    Sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` unless the user set it.
    """
    os.environ.setdefault(TORCH_SWITCH, '1')
