"""Data transforms for joint training on images, videos and prompts."""
from .filtering import FilterTrackAnnotations
from .formatting import PackPromptInputs, PackTrackPanopticInputs
from .gt_prompts import GTSegmentPrompts
from .loading import LoadImageNamingFile
from .prompt_sampling import SamplePrompts
from .pseudo_video import ImageToPseudoVideo
from .vocabulary import MapToMergedVocabulary

__all__ = [
    'FilterTrackAnnotations', 'GTSegmentPrompts', 'ImageToPseudoVideo',
    'LoadImageNamingFile',
    'MapToMergedVocabulary',
    'PackPromptInputs', 'PackTrackPanopticInputs', 'SamplePrompts'
]
