"""ONNX export of RAP-SAM: the image model and the prompt decoder.

Two graphs, as SAM ships them:

- :class:`ImageModelExport`: a normalised, padded image -> the object
  queries' class logits, their mask logits at stride 4 (the object
  adapter's) and the stride-4 features; panoptic results follow from the
  first two with :class:`RapSAMFusionHead` (see :func:`panoptic_from`).
- :class:`PromptDecoderExport`: cached features + any number of prompts
  (clicks and / or boxes) -> prompt mask logits at stride 4 and IoU
  scores.

The neck's deformable convs must use the ``'grid_sample'`` kernel
(``GridSample`` + ``MatMul`` in ONNX, which onnxruntime runs); build the
model with ``cfg_options={'model.neck.deform_impl': 'grid_sample'}``.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mmdet.structures import DetDataSample
from ..utils.atomic_io import atomic_path

IMAGE_OUTPUTS = ('cls_logits', 'mask_logits', 'features')
PROMPT_INPUTS = ('features', 'point_coords', 'point_labels', 'boxes',
                 'box_valid')
PROMPT_OUTPUTS = ('mask_logits', 'iou_scores')


class ImageModelExport(nn.Module):
    """Backbone, neck and object decoding of one image.

    Args:
        model (nn.Module): A RAP-SAM model in eval mode.

    Inputs:
        image (Tensor): (1, 3, H, W) normalised image (the data
            preprocessor's output: RGB, mean / std, padded to a multiple
            of 32).

    Outputs:
        cls_logits (1, N, K + 1), mask_logits (1, N, H / 4, W / 4) and
        features (1, C, H / 4, W / 4).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        features = self.model.extract_feat(image, factored=False)[0]
        objects = self.model.panoptic_head.predict_from_queries(
            features).objects
        return objects.cls_logits, objects.mask_logits, features


class PromptDecoderExport(nn.Module):
    """Prompt encoder, shared decoder and prompt adapter on cached features.

    Args:
        model (nn.Module): A RAP-SAM model in eval mode.
        input_shape (tuple[int, int]): Padded input (H, W) the prompt
            coordinates live in (4x the features' size).
        image_shape (tuple[int, int], optional): The image (H, W) inside
            the padded input, which prompt coordinates are normalised by
            (``PromptEncoder.normalize_by='img_shape'``). Defaults to
            ``input_shape``.

    Inputs:
        features (Tensor): (1, C, H / 4, W / 4), from the image model.
        point_coords (Tensor): (1, P, K, 2) clicks (x, y) in input pixels.
        point_labels (Tensor): (1, P, K) int64: 1 positive, 0 negative,
            -1 padding.
        boxes (Tensor): (1, P, 4) boxes (x1, y1, x2, y2) in input pixels.
        box_valid (Tensor): (1, P) bool, which prompts have a box. A
            box-only prompt has one click with label -1.

    Outputs:
        mask_logits (1, P, H / 4, W / 4) and iou_scores (1, P) (see the
        head's ``bounded_iou``).
    """

    def __init__(self,
                 model: nn.Module,
                 input_shape: Tuple[int, int],
                 image_shape: Optional[Tuple[int, int]] = None) -> None:
        super().__init__()
        self.head = model.panoptic_head
        self.input_shape = tuple(input_shape)
        self.image_shape = tuple(image_shape or input_shape)
        if self.head.prompt_encoder.normalize_by == 'batch_input_shape':
            self.image_shape = self.input_shape

    def forward(self, features: Tensor, point_coords: Tensor,
                point_labels: Tensor, boxes: Tensor,
                box_valid: Tensor) -> Tuple[Tensor, Tensor]:
        queries, priors = self.head.prompt_encoder.encode(
            self.image_shape, self.input_shape,
            features.shape[-2:] if self.head.prompt_prior else None,
            points=point_coords, point_labels=point_labels, boxes=boxes,
            box_valid=box_valid)
        prompts = self.head.predict_from_queries(
            features, queries, prompt_priors=priors,
            with_objects=False).prompts
        return prompts.mask_logits, prompts.iou_scores


def prompt_inputs(points: Optional[Tensor] = None,
                  labels: Optional[Tensor] = None,
                  boxes: Optional[Tensor] = None) -> Dict[str, Tensor]:
    """The prompt decoder's inputs for P prompts (batch of one image).

    Args:
        points (Tensor, optional): (P, K, 2) clicks in input pixels.
        labels (Tensor, optional): (P, K) click labels. Defaults to 1.
        boxes (Tensor, optional): (P, 4) boxes in input pixels.

    Returns:
        dict[str, Tensor]: ``point_coords``, ``point_labels``, ``boxes``
        and ``box_valid``, with -1 labels for prompts without clicks and
        ``box_valid`` False for prompts without a box.
    """
    if points is None and boxes is None:
        raise ValueError('give points or boxes')
    num = len(points) if points is not None else len(boxes)
    if points is None:
        points = torch.zeros(num, 1, 2)
        labels = -torch.ones(num, 1, dtype=torch.long)
    elif labels is None:
        labels = torch.ones(points.shape[:2], dtype=torch.long)
    box_valid = torch.full((num, ), boxes is not None)
    if boxes is None:
        boxes = torch.zeros(num, 4)
    return dict(
        point_coords=points[None].float(),
        point_labels=labels[None].long(),
        boxes=boxes[None].float(),
        box_valid=box_valid[None])


def export_image_model(model: nn.Module,
                       image: Tensor,
                       path: str,
                       opset: int = 18) -> None:
    """Export :class:`ImageModelExport` for the size of ``image``."""
    with atomic_path(path) as tmp:
        _export_image_model(model, image, tmp, opset)


def _export_image_model(model: nn.Module, image: Tensor, path: str,
                        opset: int) -> None:
    torch.onnx.export(
        ImageModelExport(model).eval(), (image, ),
        path,
        input_names=['image'],
        output_names=list(IMAGE_OUTPUTS),
        opset_version=opset,
        dynamo=True,
        external_data=False)


def export_prompt_decoder(model: nn.Module,
                          features: Tensor,
                          input_shape: Tuple[int, int],
                          path: str,
                          image_shape: Optional[Tuple[int, int]] = None,
                          opset: int = 18,
                          max_prompts: int = 1024) -> None:
    """Export :class:`PromptDecoderExport`, dynamic in prompts and clicks.

    Traced with 2 prompts of 2 clicks; P in [1, ``max_prompts``] and the
    number of clicks K in [1, 64] are symbolic.
    """
    dummy = prompt_inputs(
        torch.tensor([[[10., 10.], [20., 20.]], [[30., 30.], [40., 5.]]]),
        torch.tensor([[1, 0], [1, -1]]), torch.tensor([[0., 0., 30., 30.],
                                                       [5., 5., 50., 40.]]))
    args = (features, dummy['point_coords'], dummy['point_labels'],
            dummy['boxes'], dummy['box_valid'])
    prompts = torch.export.Dim('num_prompts', min=1, max=max_prompts)
    clicks = torch.export.Dim('num_clicks', min=1, max=64)
    dynamic_shapes = (None, {
        1: prompts,
        2: clicks
    }, {
        1: prompts,
        2: clicks
    }, {
        1: prompts
    }, {
        1: prompts
    })
    with atomic_path(path) as tmp:
        torch.onnx.export(
            PromptDecoderExport(model, input_shape, image_shape).eval(),
            args,
            tmp,
            input_names=list(PROMPT_INPUTS),
            output_names=list(PROMPT_OUTPUTS),
            opset_version=opset,
            dynamo=True,
            dynamic_shapes=dynamic_shapes,
            external_data=False)


def panoptic_from(model: nn.Module, cls_logits: Tensor, mask_logits: Tensor,
                  meta: dict) -> Tensor:
    """Panoptic segment ids (H0, W0) from the image model's outputs.

    Runs the model's fusion head on (1, N, K + 1) class logits and
    (1, N, h, w) stride-4 mask logits, as ``model.predict`` does.

    Args:
        model (nn.Module): The RAP-SAM model (for its fusion head).
        cls_logits (Tensor): Class logits.
        mask_logits (Tensor): Mask logits at stride 4.
        meta (dict): ``batch_input_shape``, ``img_shape``, ``ori_shape``.

    Returns:
        Tensor: int32 ``label + id * INSTANCE_OFFSET`` map, void =
        ``num_classes``.
    """
    result = model.panoptic_fusion_head.predict(
        cls_logits, mask_logits, [DetDataSample(metainfo=meta)],
        rescale=True)
    return result[0]['pan_results'].sem_seg[0]
