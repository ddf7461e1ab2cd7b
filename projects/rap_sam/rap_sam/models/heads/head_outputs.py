"""Typed predictions of :class:`RapSAMHead`, the input of the fusion head."""
from dataclasses import dataclass
from typing import Optional

from torch import Tensor


@dataclass
class ObjectPredictions:
    """The object queries' outputs of the last layer (the object adapter).

    Attributes:
        cls_logits (Tensor): (B, N, K + 1) class logits, no-object last.
        mask_logits (Tensor): (B, N, h, w) mask logits at the decoder's
            stride 4 (a clip's frames stacked vertically for video).
        embeds (Tensor): (B, N, C) the adapter's query embeddings, which
            link the queries of consecutive clips.
    """
    cls_logits: Tensor
    mask_logits: Tensor
    embeds: Tensor

    def reorder(self, perm: Tensor) -> 'ObjectPredictions':
        """The predictions of one item (B = 1) with queries in ``perm``
        order."""
        return ObjectPredictions(self.cls_logits[:, perm],
                                 self.mask_logits[:, perm],
                                 self.embeds[:, perm])


@dataclass
class PromptPredictions:
    """The prompt queries' outputs of the last layer (the prompt adapter).

    Attributes:
        mask_logits (Tensor): (B, P, h, w) mask logits at stride 4.
        iou_scores (Tensor): (B, P) published IoU scores (see
            :meth:`RapSAMHead.prompt_scores`).
        valid (Tensor): (B, P) bool, which prompt slots hold a prompt
            (images of a batch may have different numbers of prompts).
    """
    mask_logits: Tensor
    iou_scores: Tensor
    valid: Tensor


@dataclass
class HeadPredictions:
    """What :meth:`RapSAMHead.predict` decoded for a batch.

    Attributes:
        objects (ObjectPredictions, optional): When object queries ran.
        prompts (PromptPredictions, optional): When the samples carried
            prompts.
    """
    objects: Optional[ObjectPredictions] = None
    prompts: Optional[PromptPredictions] = None
