from .clip_results import clip_track_instances
from .rap_sam import RapSAM

__all__ = ['RapSAM', 'clip_track_instances']
