"""RAP-SAM: real-time all-purpose segmentation, as an MMDetection plugin.

Importing the package registers its models, datasets, transforms, samplers
and metrics in MMDetection's registries.
"""
from . import datasets, engine, evaluation, models  # noqa: F401

__version__ = '0.1.0'
