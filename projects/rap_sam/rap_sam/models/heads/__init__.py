from .adapters import ObjectAdapter, PromptAdapter
from .clip_targets import clip_targets, clip_to_frames, frames_to_clip
from .decoder_stage import DynamicConvDecoderStage
from .mask_pooling import hard_mask_pool
from .prompt_encoder import PromptEncoder
from .rap_sam_fusion_head import RapSAMFusionHead
from .rap_sam_head import RapSAMHead
from .text_classifier import OpenVocabClassifier

__all__ = [
    'DynamicConvDecoderStage', 'ObjectAdapter', 'OpenVocabClassifier',
    'PromptAdapter', 'PromptEncoder', 'RapSAMFusionHead', 'RapSAMHead',
    'clip_targets', 'clip_to_frames', 'frames_to_clip', 'hard_mask_pool'
]
