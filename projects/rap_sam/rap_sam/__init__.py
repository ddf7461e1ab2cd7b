"""RAP-SAM: real-time all-purpose segmentation, as an MMDetection plugin.

Importing the package registers its models, datasets, transforms, samplers
and metrics in MMDetection's registries.
"""
from . import datasets, engine, evaluation, models  # noqa: F401
from .utils import allow_mmengine_checkpoints

# Runner checkpoints load weights-only (see rap_sam.utils.checkpoint_safety).
allow_mmengine_checkpoints()

__version__ = '0.1.0'
