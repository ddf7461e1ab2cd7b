"""Mapping of the official RAP-SAM checkpoint onto this project's model.

The official release (``rapsam_r50_12e.pth``, an mmengine checkpoint) names
modules after the code they grew from (YOSO's neck, OMG-Seg's head). The
tensors are the same; only names differ:

================================================  ===========================
official                                          here
================================================  ===========================
neck.deconv.lateral_conv{0,1,2,3}                 neck.lateral_convs.{3,2,1,0}
neck.deconv.deform_conv{1,2,3}.dcn_offset         neck.deform_blocks.{2,1,0}
                                                  .deform_conv.offset_conv
neck.deconv.deform_conv{k}.dcn.weight             ....deform_conv.weight
neck.deconv.deform_conv{k}.{dcn_bn,up_sample,     ....{deform_norm,upsample,
up_bn}                                            upsample_norm}
neck.deconv.conv_a{5,4,3,2}                       neck.fuse_convs.{3,2,1,0}
neck.deconv.bias / output_conv                    neck.fuse_bias / output_conv
neck.loc_conv                                     neck.coord_conv
panoptic_head.kernels                             panoptic_head.object_queries
panoptic_head.mask_tokens / pb_embedding /        panoptic_head.prompt_encoder
pos_linear                                        .content_embed / type_embed /
                                                  pos_proj
panoptic_head.mask_heads.{i}                      panoptic_head.stages.{i}
  .s_atten / s_atten_norm / fc_mask / iou_embed     .self_attn / self_attn_norm
                                                    / mask_proj / iou_head
panoptic_head.panoptic_attn / panoptic_cls        panoptic_head.object_adapter
                                                  .kernel_update / cls_proj
panoptic_head.prompt_attn / prompt_norm /         panoptic_head.prompt_adapter
prompt_iou                                        .cross_attn / norm / iou_head
================================================  ===========================

Everything else (the backbone, ``kernel_update``, ``ffn``, ``cls_fcs``,
``cls_proj``, ``mask_fcs``) keeps its name. Not in the official state dict:
the class text embeddings (non-persistent buffers there and here, rebuilt
from the embedding file) and ``prompt_encoder.click_embed`` (this project's
negative/positive click embedding, zero-initialised, so the converted model
encodes positive clicks exactly as the official one).
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

from torch import Tensor

# (pattern, replacement) applied in order; the first match wins.
RENAMES: List[Tuple[str, str]] = [
    (r'^neck\.deconv\.lateral_conv(\d)\.',
     lambda m: f'neck.lateral_convs.{3 - int(m.group(1))}.'),
    (r'^neck\.deconv\.deform_conv(\d)\.dcn_offset\.',
     lambda m: f'neck.deform_blocks.{3 - int(m.group(1))}'
     '.deform_conv.offset_conv.'),
    (r'^neck\.deconv\.deform_conv(\d)\.dcn\.weight$',
     lambda m: f'neck.deform_blocks.{3 - int(m.group(1))}'
     '.deform_conv.weight'),
    (r'^neck\.deconv\.deform_conv(\d)\.dcn_bn\.',
     lambda m: f'neck.deform_blocks.{3 - int(m.group(1))}.deform_norm.'),
    (r'^neck\.deconv\.deform_conv(\d)\.up_sample\.',
     lambda m: f'neck.deform_blocks.{3 - int(m.group(1))}.upsample.'),
    (r'^neck\.deconv\.deform_conv(\d)\.up_bn\.',
     lambda m: f'neck.deform_blocks.{3 - int(m.group(1))}.upsample_norm.'),
    (r'^neck\.deconv\.conv_a(\d)\.',
     lambda m: f'neck.fuse_convs.{int(m.group(1)) - 2}.'),
    (r'^neck\.deconv\.bias$', 'neck.fuse_bias'),
    (r'^neck\.deconv\.output_conv\.', 'neck.output_conv.'),
    (r'^neck\.loc_conv\.', 'neck.coord_conv.'),
    (r'^panoptic_head\.kernels\.', 'panoptic_head.object_queries.'),
    (r'^panoptic_head\.mask_tokens\.',
     'panoptic_head.prompt_encoder.content_embed.'),
    (r'^panoptic_head\.pb_embedding\.',
     'panoptic_head.prompt_encoder.type_embed.'),
    (r'^panoptic_head\.pos_linear\.',
     'panoptic_head.prompt_encoder.pos_proj.'),
    (r'^panoptic_head\.mask_heads\.(\d+)\.s_atten_norm\.',
     r'panoptic_head.stages.\1.self_attn_norm.'),
    (r'^panoptic_head\.mask_heads\.(\d+)\.s_atten\.',
     r'panoptic_head.stages.\1.self_attn.'),
    (r'^panoptic_head\.mask_heads\.(\d+)\.fc_mask\.',
     r'panoptic_head.stages.\1.mask_proj.'),
    (r'^panoptic_head\.mask_heads\.(\d+)\.iou_embed\.',
     r'panoptic_head.stages.\1.iou_head.'),
    (r'^panoptic_head\.mask_heads\.(\d+)\.',
     r'panoptic_head.stages.\1.'),
    (r'^panoptic_head\.panoptic_attn\.',
     'panoptic_head.object_adapter.kernel_update.'),
    (r'^panoptic_head\.panoptic_cls\.',
     'panoptic_head.object_adapter.cls_proj.'),
    (r'^panoptic_head\.prompt_attn\.',
     'panoptic_head.prompt_adapter.cross_attn.'),
    (r'^panoptic_head\.prompt_norm\.', 'panoptic_head.prompt_adapter.norm.'),
    (r'^panoptic_head\.prompt_iou\.',
     'panoptic_head.prompt_adapter.iou_head.'),
    (r'^backbone\.', 'backbone.'),
]

# Non-persistent in the official model; listed in case a checkpoint was
# saved with them.
REBUILT_FROM_EMBEDDING_FILE = re.compile(
    r'^panoptic_head\.mask_heads\.\d+\.(fc_cls|logit_scale)$')


def convert_key(key: str) -> str:
    """This project's name of one official state-dict key.

    Raises:
        KeyError: For a key the official layout does not have.
    """
    for pattern, repl in RENAMES:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    raise KeyError(f'unknown key in the official RAP-SAM checkpoint: {key}')


def convert_state_dict(
        official: Dict[str, Tensor]) -> Tuple[Dict[str, Tensor], List[str]]:
    """Rename every tensor of an official state dict.

    Args:
        official (dict[str, Tensor]): ``checkpoint['state_dict']``.

    Returns:
        tuple: the converted state dict and the official keys that were
        dropped (text embeddings rebuilt from the embedding file).
    """
    converted, dropped = OrderedDict(), []
    for key, value in official.items():
        if REBUILT_FROM_EMBEDDING_FILE.match(key) or key.startswith(
                'data_preprocessor.'):
            dropped.append(key)
            continue
        converted[convert_key(key)] = value
    return converted, dropped
