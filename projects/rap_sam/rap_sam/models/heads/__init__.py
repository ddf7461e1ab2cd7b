from .adapters import ObjectAdapter, PromptAdapter
from .clip_targets import clip_targets, clip_to_frames, frames_to_clip
from .decoder_stage import DynamicConvDecoderStage
from .head_outputs import (HeadPredictions, ObjectPredictions,
                           PromptPredictions)
from .mask2former_losses import Mask2FormerLosses
from .mask_pooling import hard_mask_pool
from .pixel_features import PackedPixelKV, PixelFeatures
from .prompt_encoder import PromptEncoder
from .prompt_loss import PromptLoss
from .rap_sam_fusion_head import RapSAMFusionHead, resize_to_image
from .rap_sam_head import RapSAMHead, decoder_features, default_kernel
from .test_options import TestOptions
from .text_classifier import OpenVocabClassifier
from .video_track_state import VideoTrackState

__all__ = [
    'DynamicConvDecoderStage', 'HeadPredictions', 'Mask2FormerLosses',
    'ObjectAdapter', 'ObjectPredictions', 'OpenVocabClassifier',
    'PackedPixelKV', 'PixelFeatures', 'PromptAdapter',
    'PromptEncoder', 'PromptLoss', 'PromptPredictions', 'RapSAMFusionHead',
    'RapSAMHead', 'TestOptions', 'VideoTrackState', 'clip_targets',
    'clip_to_frames', 'decoder_features', 'frames_to_clip', 'hard_mask_pool',
    'default_kernel', 'resize_to_image'
]
