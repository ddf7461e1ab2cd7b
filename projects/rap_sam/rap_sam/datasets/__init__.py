"""Datasets side of RAP-SAM: class vocabularies, transforms and samplers.

Importing it registers the transforms in mmdet's ``TRANSFORMS`` and the
batch sampler in its ``DATA_SAMPLERS``.
"""
from . import class_names
from .class_names import (COCO_YTVIS2019_MERGED, Vocabulary, get_vocabulary,
                          merge_vocabularies)
from .samplers import TASKS, TaskBatchSampler
from .transforms import (FilterTrackAnnotations, GTSegmentPrompts,
                         ImageToPseudoVideo, MapToMergedVocabulary,
                         PackPromptInputs, PackTrackPanopticInputs,
                         SamplePrompts)
from .vipseg import (VIPSEG_STUFF_CLASSES, VIPSEG_THING_CLASSES,
                     LoadVideoPanopticAnnotations, VIPSegDataset)

__all__ = [
    'COCO_YTVIS2019_MERGED', 'FilterTrackAnnotations', 'GTSegmentPrompts',
    'ImageToPseudoVideo', 'LoadVideoPanopticAnnotations',
    'MapToMergedVocabulary', 'PackPromptInputs', 'PackTrackPanopticInputs',
    'SamplePrompts', 'TASKS', 'TaskBatchSampler', 'VIPSEG_STUFF_CLASSES',
    'VIPSEG_THING_CLASSES', 'VIPSegDataset', 'Vocabulary', 'class_names',
    'get_vocabulary', 'merge_vocabularies'
]
