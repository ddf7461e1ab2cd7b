"""Encoding of visual prompts (points, boxes) into decoder queries."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from torch import Tensor

from mmdet.models.layers.transformer.utils import (coordinate_to_encoding,
                                                   inverse_sigmoid)
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from .prompt_batch import collate_prompts, validate_prompts

# Type-embedding rows: clicks and boxes with ``type_per_kind``; the
# official model adds row 1 to every prompt.
POINT, BOX = 0, 1
NORMALIZERS = ('img_shape', 'batch_input_shape')


@MODELS.register_module()
class PromptEncoder(nn.Module):
    """Turns each prompt (clicks and/or a box) into one query.

    Every prompt element is a box ``(cx, cy, w, h)`` normalised by an image
    size; a click is a box of side ``point_size`` pixels centred on it. Each
    element goes through an inverse-sigmoid / sigmoid round trip (a clamp
    to [1e-5, 1 - 1e-5]), is sine-encoded (``coordinate_to_encoding``, 4 x
    ``num_pos_feats``), projected by ``pos_proj`` and, for clicks, shifted
    by a positive / negative click embedding; the elements of a prompt are
    averaged. The query is that position term plus a learned content
    embedding and a type embedding.

    The defaults are the official model's encoding: 6-pixel clicks,
    coordinates divided by the unpadded image size (``img_shape``) and type
    row 1 for every prompt (row 0 was never trained there).

    Args:
        embed_dims (int): Query dims. Defaults to 256.
        num_pos_feats (int): Sine features per coordinate. Defaults to 128.
        point_size (float): Side of the box a click stands for, in input
            pixels. Defaults to 6 (official).
        normalize_by (str): ``'img_shape'`` (official: the image without
            its padding) or ``'batch_input_shape'`` (the padded input).
        type_per_kind (bool): False (official): every prompt adds type row
            1. True: clicks add row 0 and boxes row 1.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 num_pos_feats: int = 128,
                 point_size: float = 6.,
                 normalize_by: str = 'img_shape',
                 type_per_kind: bool = False) -> None:
        super().__init__()
        if normalize_by not in NORMALIZERS:
            raise ValueError(f'normalize_by must be one of {NORMALIZERS}, '
                             f'got {normalize_by!r}')
        self.embed_dims = embed_dims
        self.num_pos_feats = num_pos_feats
        self.point_size = point_size
        self.normalize_by = normalize_by
        self.type_per_kind = type_per_kind
        self.content_embed = nn.Embedding(1, embed_dims)
        self.type_embed = nn.Embedding(2, embed_dims)
        self.pos_proj = nn.Linear(4 * num_pos_feats, embed_dims)
        # Index 0: negative click, 1: positive click. Zero-initialised so
        # that a model converted from the official checkpoint (which has
        # no such embedding) encodes positive clicks exactly as it did.
        self.click_embed = nn.Embedding(2, embed_dims)
        nn.init.zeros_(self.click_embed.weight)

    def _encode(self, cxcywh: Tensor) -> Tensor:
        """(B, P, K, 4) normalised boxes -> (B, P, K, embed_dims)."""
        b, p, k, _ = cxcywh.shape
        cxcywh = inverse_sigmoid(cxcywh, eps=1e-5).sigmoid()
        enc = coordinate_to_encoding(
            cxcywh.reshape(b, p * k, 4), num_feats=self.num_pos_feats)
        return self.pos_proj(enc).reshape(b, p, k, -1)

    def forward(self,
                image_sizes: Union[tuple, Tensor],
                points: Optional[Tensor] = None,
                point_labels: Optional[Tensor] = None,
                boxes: Optional[Tensor] = None,
                box_valid: Optional[Tensor] = None) -> Tensor:
        """Encode a batch of prompts.

        Args:
            image_sizes (tuple | Tensor): (H, W) the coordinates are
                normalised by, one for the batch or (B, 2) per sample (see
                ``normalize_by``).
            points (Tensor, optional): (B, P, K, 2) click (x, y) in pixels.
            point_labels (Tensor, optional): (B, P, K): 1 positive click,
                0 negative click, -1 padding.
            boxes (Tensor, optional): (B, P, 4) boxes (x1, y1, x2, y2) in
                pixels.
            box_valid (Tensor, optional): (B, P) bool, which prompts have a
                box. Defaults to all when ``boxes`` is given.

        Returns:
            Tensor: Prompt queries (B, P, embed_dims).
        """
        ref = points if points is not None else boxes
        if ref is None:
            raise ValueError('PromptEncoder needs points or boxes')
        # (B, 1, 1, 2) or (1, 1, 1, 2): (w, h) of each sample
        scale_xy = torch.as_tensor(
            image_sizes, dtype=torch.float32,
            device=ref.device).reshape(-1, 2).flip(-1)[:, None, None]
        pos_terms, weights = [], []
        has_box = None
        if points is not None:
            centers = points.float() / scale_xy
            size = (self.point_size / scale_xy).expand_as(centers)
            cxcywh = torch.cat([centers, size], dim=-1)
            click = point_labels.clamp(min=0).long()
            pos_terms.append(
                self._encode(cxcywh) + self.click_embed(click))
            weights.append((point_labels >= 0).float())
        if boxes is not None:
            boxes = boxes.float()[:, :, None]
            centers = (boxes[..., :2] + boxes[..., 2:]) / 2 / scale_xy
            sizes = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0) / scale_xy
            cxcywh = torch.cat([centers, sizes], dim=-1)
            pos_terms.append(self._encode(cxcywh))
            if box_valid is None:
                box_valid = boxes.new_ones(boxes.shape[:2], dtype=torch.bool)
            has_box = box_valid
            weights.append(box_valid.float()[..., None])
        pos = torch.cat(pos_terms, dim=2)
        weight = torch.cat(weights, dim=2)
        count = weight.sum(dim=2, keepdim=True)
        pos = (pos * weight[..., None]).sum(dim=2) / count.clamp(min=1)
        if not self.type_per_kind:
            type_embed = self.type_embed.weight[BOX]
        else:
            if has_box is None:
                has_box = torch.zeros(
                    pos.shape[:2], dtype=torch.bool, device=pos.device)
            type_embed = self.type_embed(torch.where(has_box, BOX, POINT))
        return pos + type_embed + self.content_embed.weight

    def prior_masks(self,
                    input_shape: tuple,
                    feat_shape: tuple,
                    points: Optional[Tensor] = None,
                    point_labels: Optional[Tensor] = None,
                    boxes: Optional[Tensor] = None,
                    box_valid: Optional[Tensor] = None) -> Tensor:
        """Where each prompt points: the region its first pooling reads.

        A box prompt covers its box (and, for boxes thinner than a feature
        pixel, a ``point_size`` box at its centre); a click prompt the union
        of its positive clicks, each a ``point_size`` box as in
        :meth:`forward`. A feature pixel belongs to a region when its
        centre does.

        Args:
            input_shape (tuple): Padded input (H, W) of the coordinates.
            feat_shape (tuple): (h, w) of the feature map.
            points, point_labels, boxes, box_valid: As in :meth:`forward`.

        Returns:
            Tensor: (B, P, h, w) bool.
        """
        h_in, w_in = input_shape
        h, w = feat_shape
        ref = points if points is not None else boxes
        if ref is None:
            raise ValueError('PromptEncoder needs points or boxes')
        ys = (torch.arange(h, device=ref.device, dtype=torch.float32) +
              0.5) * (h_in / h)
        xs = (torch.arange(w, device=ref.device, dtype=torch.float32) +
              0.5) * (w_in / w)
        regions = None
        half = self.point_size / 2

        def near(xy: Tensor) -> Tensor:
            """(..., 2) centres -> (..., h, w) their point_size windows."""
            xy = xy[..., None, None, :]
            return ((xs.view(1, w) - xy[..., 0]).abs() <= half) & (
                (ys.view(h, 1) - xy[..., 1]).abs() <= half)

        if points is not None:
            positive = (point_labels > 0)[..., None, None]
            regions = (near(points.float()) & positive).any(dim=2)
        if boxes is not None:
            bxs = boxes.float()[..., None, None, :]  # (B, P, 1, 1, 4)
            in_box = (xs.view(1, w) >= bxs[..., 0]) & (
                xs.view(1, w) <= bxs[..., 2]) & (
                    ys.view(h, 1) >= bxs[..., 1]) & (
                        ys.view(h, 1) <= bxs[..., 3])
            in_box = in_box | near(
                (boxes[..., :2].float() + boxes[..., 2:].float()) / 2)
            if box_valid is None:
                box_valid = boxes.new_ones(boxes.shape[:2], dtype=torch.bool)
            has_box = box_valid[..., None, None]
            regions = in_box & has_box if regions is None else (
                in_box & has_box) | (regions & ~has_box)
        return regions

    def encode_samples(
        self,
        batch_data_samples: SampleList,
        input_shape: tuple,
        device: torch.device,
        prior_shape: Optional[tuple] = None
    ) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """Validate, pad and encode the prompts of a batch of samples.

        Args:
            batch_data_samples (list[DetDataSample]): Samples, some with
                ``prompt_instances`` (``points`` (P, K, 2) and
                ``point_labels`` (P, K), and / or ``boxes`` (P, 4) with an
                optional ``box_valid`` (P,), in input pixels).
            input_shape (tuple): Padded input (H, W).
            device (torch.device): Device of the outputs.
            prior_shape (tuple, optional): (h, w) of the features: the
                prompts' prior regions (:meth:`prior_masks`) are made at
                this size. Defaults to none.

        Returns:
            tuple: prompt queries (B, P, C), validity (B, P) bool, and the
            prior regions (B, P, h, w) bool or None.

        Raises:
            ValueError: Naming the sample and field of an invalid prompt.
        """
        prompts = []
        for i, sample in enumerate(batch_data_samples):
            p = sample.get('prompt_instances', None)
            if p is not None:
                validate_prompts(p, input_shape,
                                 f'data_samples[{i}].prompt_instances')
            prompts.append(p)
        batch = collate_prompts(prompts, device)
        valid = batch.pop('valid')
        if valid.shape[1] == 0:
            return valid.new_zeros(
                len(prompts), 0, self.embed_dims,
                dtype=torch.float32), valid, None
        image_sizes = [
            s.metainfo.get(self.normalize_by, input_shape)[:2]
            for s in batch_data_samples
        ]
        queries, priors = self.encode(image_sizes, input_shape, prior_shape,
                                      **batch)
        return queries, valid, priors

    def encode(self,
               image_sizes: Union[Sequence, Tensor],
               input_shape: tuple,
               prior_shape: Optional[tuple] = None,
               **geometry: Optional[Tensor]
               ) -> Tuple[Tensor, Optional[Tensor]]:
        """Queries and, with ``prior_shape``, prior regions of padded
        prompt tensors.

        Args:
            image_sizes: See :meth:`forward`.
            input_shape (tuple): Padded input (H, W).
            prior_shape (tuple, optional): See :meth:`encode_samples`.
            **geometry: ``points``, ``point_labels``, ``boxes``,
                ``box_valid`` as in :meth:`forward`.

        Returns:
            tuple: queries (B, P, C) and prior regions (B, P, h, w) or None.
        """
        queries = self(image_sizes, **geometry)
        priors = None
        if prior_shape is not None:
            priors = self.prior_masks(input_shape, tuple(prior_shape),
                                      **geometry)
        return queries, priors
