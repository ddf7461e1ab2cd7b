"""RAP-SAM head: shared dynamic-conv decoder, adapters, targets, losses."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.ops import point_sample
from mmengine.model import BaseModule, ModuleList
from torch import Tensor

from mmdet.models.dense_heads import Mask2FormerHead
from mmdet.models.utils import get_uncertain_point_coords_with_randomness
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures import SampleList, TrackSampleList
from mmdet.utils import (ConfigType, OptConfigType, OptMultiConfig,
                         reduce_mean)
from .adapters import ObjectAdapter, PromptAdapter
from .clip_targets import batch_clip_targets, frames_to_clip
from .decoder_stage import DynamicConvDecoderStage
from .prompt_batch import collate_prompts, validate_prompts

HeadOutputs = Dict[str, List[Tensor]]


def dice_coefficient(point_logits: Tensor, point_targets: Tensor) -> Tensor:
    """Smoothed Dice coefficient (eps 1) of each mask on sampled points.

    Args:
        point_logits (Tensor): (M, num_points) mask logits.
        point_targets (Tensor): (M, num_points) targets in [0, 1].

    Returns:
        Tensor: (M,) ``(2 |p t| + 1) / (|p| + |t| + 1)``, p the sigmoid.
    """
    probs = point_logits.sigmoid()
    inter = (probs * point_targets).sum(-1)
    return (2 * inter + 1) / (probs.sum(-1) + point_targets.sum(-1) + 1)


def mask_iou(mask_logits: Tensor, targets: Tensor) -> Tensor:
    """IoU of binarised masks with their targets at the masks' size.

    Args:
        mask_logits (Tensor): (M, h, w) mask logits.
        targets (Tensor): (M, H, W) binary targets.

    Returns:
        Tensor: (M,) IoU.
    """
    small_targets = F.interpolate(
        targets.unsqueeze(1), mask_logits.shape[-2:],
        mode='nearest').squeeze(1) > 0.5
    pred = mask_logits > 0
    inter = (pred & small_targets).flatten(1).sum(-1).float()
    union = (pred | small_targets).flatten(1).sum(-1).float()
    return inter / union.clamp(min=1)


@MODELS.register_module()
class RapSAMHead(Mask2FormerHead):
    """The decoder of RAP-SAM, shared by object and prompt queries.

    `RAP-SAM: Towards Real-Time All-Purpose Segment Anything
    <https://arxiv.org/abs/2401.10228>`_.

    Object queries (learned) and prompt queries (from
    :class:`PromptEncoder`) start from masks ``query . features`` on the
    single stride-4 map of the neck and run through ``num_stages``
    :class:`DynamicConvDecoderStage` (prompts masked from each other in
    self-attention). Then the object queries go through A_obj
    (:class:`ObjectAdapter`) and the prompt queries through A_prompt
    (:class:`PromptAdapter`). Classes come from an
    :class:`OpenVocabClassifier`.

    Training reuses :class:`Mask2FormerHead`'s targets and losses for object
    queries (Hungarian matching on point-sampled costs; CE, BCE and Dice on
    importance-sampled points) on every stage and the adapter. Prompt
    queries are paired with their own mask (no matching, no class loss)
    and also learn to predict their mask IoU. Video clips (T frames) are
    decoded as one tall map (see :func:`frames_to_clip`), so a query is an
    identity across the clip.

    Args:
        num_things_classes (int): Thing classes of the training vocabulary.
        num_stuff_classes (int): Stuff classes of the training vocabulary.
        classifier (dict): :class:`OpenVocabClassifier` of the training
            vocabulary.
        test_classifier (dict, optional): Classifier used in eval mode,
            e.g. the vocabulary of the test dataset. Defaults to
            ``classifier``.
        num_queries (int): Object queries. Defaults to 100.
        embed_dims (int): Query and feature dims. Defaults to 256.
        num_stages (int): Decoder stages. Defaults to 3.
        stage_cfg (dict): Keyword args of each decoder stage.
        prompt_encoder (dict): Config of :class:`PromptEncoder`.
        prompt_prior (bool): The first decoder stage pools a prompt query's
            features in the region the prompt points at (its box, or
            windows around its positive clicks) instead of under the
            prompt's dot-product mask, so that from the first iteration a
            prompt reads the object it names. Adds no parameters. Defaults
            to False (official: the dot-product start of object queries).
        bounded_iou (bool): False (official): the IoU output of a prompt is
            the raw linear output, regressed (MSE) onto the Dice
            coefficient of its mask on the sampled points, and published
            as is. True: a sigmoid of it, regressed onto the mask IoU at
            stride 4, so scores lie in [0, 1].
        loss_cls (dict): Classification loss (class_weight gives the
            no-object weight).
        loss_mask (dict): Mask BCE loss.
        loss_dice (dict): Dice loss.
        loss_iou (dict): IoU-prediction loss of prompt queries.
        train_cfg (dict, optional): ``assigner``, ``sampler``,
            ``num_points``, ``oversample_ratio``, ``importance_sample_ratio``.
        test_cfg (dict, optional): ``panoptic_on`` (run object queries when
            predicting, default True), ``upsample_masks`` (default True;
            False leaves the object masks of :meth:`predict` at stride 4
            for :class:`RapSAMFusionHead`, which upsamples only the masks
            it uses) and the fusion head's options.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self,
                 num_things_classes: int,
                 num_stuff_classes: int,
                 classifier: ConfigType,
                 test_classifier: OptConfigType = None,
                 num_queries: int = 100,
                 embed_dims: int = 256,
                 num_stages: int = 3,
                 stage_cfg: ConfigType = dict(
                     num_heads=8, ffn_channels=2048, mask_threshold=0.5,
                     cls_temperature=0.1),
                 prompt_encoder: ConfigType = dict(type='PromptEncoder'),
                 prompt_prior: bool = False,
                 bounded_iou: bool = False,
                 loss_cls: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=False,
                     loss_weight=2.0,
                     reduction='mean'),
                 loss_mask: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     reduction='mean',
                     loss_weight=5.0),
                 loss_dice: ConfigType = dict(
                     type='DiceLoss',
                     use_sigmoid=True,
                     activate=True,
                     reduction='mean',
                     naive_dice=True,
                     eps=1.0,
                     loss_weight=5.0),
                 loss_iou: ConfigType = dict(type='MSELoss', loss_weight=10.0),
                 no_object_weight: float = 0.1,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        # Mask2FormerHead.__init__ builds a pixel decoder and a transformer
        # that RAP-SAM replaces; only its targets and losses are reused.
        BaseModule.__init__(self, init_cfg=init_cfg)
        self.num_things_classes = num_things_classes
        self.num_stuff_classes = num_stuff_classes
        self.num_classes = num_things_classes + num_stuff_classes
        self.num_queries = num_queries
        self.embed_dims = embed_dims

        self.classifier = MODELS.build(classifier)
        if self.classifier.num_classes != self.num_classes:
            raise ValueError(
                f'classifier has {self.classifier.num_classes} classes but '
                f'num_things_classes + num_stuff_classes = {self.num_classes}')
        self.test_classifier = MODELS.build(
            test_classifier) if test_classifier else None
        text_dims = self.classifier.embed_dims

        self.object_queries = nn.Embedding(num_queries, embed_dims)
        self.prompt_encoder = MODELS.build(prompt_encoder)
        self.prompt_prior = prompt_prior
        self.bounded_iou = bounded_iou
        self.stages = ModuleList(
            DynamicConvDecoderStage(embed_dims, text_dims, **stage_cfg)
            for _ in range(num_stages))
        self.object_adapter = ObjectAdapter(
            embed_dims, text_dims, stage_cfg.get('mask_threshold', 0.5))
        self.prompt_adapter = PromptAdapter(embed_dims,
                                            stage_cfg.get('num_heads', 8))

        self.train_cfg = train_cfg
        self.test_cfg = test_cfg if test_cfg is not None else dict()
        if train_cfg:
            self.assigner = TASK_UTILS.build(train_cfg['assigner'])
            self.sampler = TASK_UTILS.build(
                train_cfg['sampler'], default_args=dict(context=self))
            self.num_points = train_cfg.get('num_points', 12544)
            self.oversample_ratio = train_cfg.get('oversample_ratio', 3.0)
            self.importance_sample_ratio = train_cfg.get(
                'importance_sample_ratio', 0.75)
        if loss_cls.get('class_weight') is None:
            loss_cls = dict(
                loss_cls,
                class_weight=[1.0] * self.num_classes + [no_object_weight])
        if len(loss_cls['class_weight']) != self.num_classes + 1:
            raise ValueError(
                'loss_cls.class_weight needs num_classes + 1 = '
                f'{self.num_classes + 1} entries, got '
                f'{len(loss_cls["class_weight"])}')
        self.class_weight = loss_cls['class_weight']
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_mask = MODELS.build(loss_mask)
        self.loss_dice = MODELS.build(loss_dice)
        self.loss_iou = MODELS.build(loss_iou)

    def init_weights(self) -> None:
        """Truncated-normal (std 0.02) linear layers, as the official head.

        The click embedding stays zero, so that a converted official model
        encodes positive clicks as it was trained to.
        """
        BaseModule.init_weights(self)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def prompt_scores(self, iou_logits: Tensor) -> Tensor:
        """The published IoU score of prompt masks (see ``bounded_iou``).

        Args:
            iou_logits (Tensor): (..., P) IoU outputs of a layer.

        Returns:
            Tensor: (..., P) scores: raw (official) or in [0, 1].
        """
        return iou_logits.sigmoid() if self.bounded_iou else iou_logits

    @property
    def active_classifier(self) -> nn.Module:
        """The test vocabulary in eval mode when one is configured."""
        if not self.training and self.test_classifier is not None:
            return self.test_classifier
        return self.classifier

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def decode(self,
               features: Tensor,
               with_objects: bool = True,
               prompt_queries: Optional[Tensor] = None,
               prompt_kv: Optional[Tuple[Tensor, Tensor]] = None,
               prompt_priors: Optional[Tensor] = None) -> HeadOutputs:
        """Run the shared decoder and the adapters.

        Args:
            features (Tensor): (B, C, H, W) stride-4 features (a clip's
                frames stacked vertically for video).
            with_objects (bool): Decode the object queries.
            prompt_queries (Tensor, optional): (B, P, C) prompt queries.
            prompt_kv (tuple[Tensor], optional): The prompt adapter's
                pixel keys and values of ``features``
                (:meth:`PromptAdapter.pixel_kv`), cached by a predictor
                that prompts the same image again. Computed when needed
                otherwise.
            prompt_priors (Tensor, optional): (B, P, H, W) bool, the
                region each prompt points at
                (:meth:`PromptEncoder.prior_masks`): the first stage pools
                the prompt queries' features there. Without it, prompt
                queries pool under their dot-product masks, as object
                queries do.

        Returns:
            dict[str, list[Tensor]]: per layer (stages, then adapter):
            ``cls_logits`` (B, N, K + 1) and ``mask_logits`` (B, N, H, W)
            of object queries; ``prompt_mask_logits`` (B, P, H, W) and
            ``prompt_iou_logits`` (B, P) of prompt queries.
        """
        b = features.shape[0]
        parts = []
        if with_objects:
            parts.append(self.object_queries.weight[None].expand(b, -1, -1))
        if prompt_queries is not None:
            parts.append(prompt_queries)
        if not parts:
            raise ValueError('nothing to decode: no object and no prompt '
                             'queries')
        kernels = torch.cat(parts, dim=1)
        num_obj = self.num_queries if with_objects else 0
        attn_mask = self._self_attn_mask(num_obj, kernels.shape[1],
                                         kernels.device)
        classifier = self.active_classifier
        if prompt_priors is None or prompt_queries is None:
            mask_logits = torch.einsum('bnc,bchw->bnhw', kernels, features)
        else:
            # Far beyond any pooling threshold: inside pooled, outside not.
            prior_logits = prompt_priors.to(features.dtype) * 2e4 - 1e4
            mask_logits = torch.cat([
                torch.einsum('bnc,bchw->bnhw', kernels[:, :num_obj],
                             features), prior_logits
            ], dim=1)
        out: HeadOutputs = dict(
            cls_logits=[], mask_logits=[], prompt_mask_logits=[],
            prompt_iou_logits=[])
        for stage in self.stages:
            cls_logits, mask_logits, iou_logits, kernels = stage(
                features, kernels, mask_logits, classifier, attn_mask)
            if with_objects:
                out['cls_logits'].append(cls_logits[:, :num_obj])
                out['mask_logits'].append(mask_logits[:, :num_obj])
            if prompt_queries is not None:
                out['prompt_mask_logits'].append(mask_logits[:, num_obj:])
                out['prompt_iou_logits'].append(iou_logits[:, num_obj:])
        if with_objects:
            cls_logits, obj_masks, obj_kernels = self.object_adapter(
                features, kernels[:, :num_obj], mask_logits[:, :num_obj],
                classifier)
            out['cls_logits'].append(cls_logits)
            out['mask_logits'].append(obj_masks)
            out['object_embeds'] = [obj_kernels]
        if prompt_queries is not None:
            prompt_masks, prompt_iou, _ = self.prompt_adapter(
                features, kernels[:, num_obj:], prompt_kv)
            out['prompt_mask_logits'].append(prompt_masks)
            out['prompt_iou_logits'].append(prompt_iou)
        return out

    @staticmethod
    def _self_attn_mask(num_obj: int, num_all: int,
                        device: torch.device) -> Optional[Tensor]:
        """Object queries see each other; a prompt sees only itself.

        Returns:
            Tensor | None: (N, N) bool, True where attention is blocked;
            None when there are only object queries.
        """
        if num_obj == num_all:
            return None
        mask = ~torch.eye(num_all, dtype=torch.bool, device=device)
        mask[:num_obj, :num_obj] = False
        return mask

    def encode_prompts(
        self,
        batch_data_samples: SampleList,
        input_shape: tuple,
        device: torch.device,
        feat_shape: Optional[tuple] = None
    ) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """Validate, pad and encode the prompts of a batch.

        Args:
            batch_data_samples (list[DetDataSample]): Samples, some with
                ``prompt_instances``.
            input_shape (tuple): Padded input (H, W).
            device (torch.device): Device of the outputs.
            feat_shape (tuple, optional): (h, w) of the features; with
                ``prompt_prior``, the prompts' prior regions are made at
                this size.

        Returns:
            tuple: prompt queries (B, P, C), validity (B, P) and the prior
            regions (B, P, h, w) bool, or None.
        """
        prompts = []
        for i, sample in enumerate(batch_data_samples):
            p = sample.get('prompt_instances', None)
            if p is not None:
                validate_prompts(p, input_shape,
                                 f'data_samples[{i}].prompt_instances')
            prompts.append(p)
        batch = collate_prompts(prompts, device)
        if batch['valid'].shape[1] == 0:
            return batch['valid'].new_zeros(
                len(prompts), 0, self.embed_dims,
                dtype=torch.float32), batch['valid'], None
        geometry = dict(
            points=batch['points'],
            point_labels=batch['point_labels'],
            boxes=batch['boxes'],
            box_valid=batch['box_valid'])
        size_key = self.prompt_encoder.normalize_by
        image_sizes = [
            s.metainfo.get(size_key, input_shape)[:2]
            for s in batch_data_samples
        ]
        queries = self.prompt_encoder(image_sizes, **geometry)
        priors = None
        if self.prompt_prior and feat_shape is not None:
            priors = self.prompt_encoder.prior_masks(
                input_shape, tuple(feat_shape), **geometry)
        return queries, batch['valid'], priors

    def forward(self, x: Tuple[Tensor],
                batch_data_samples: SampleList) -> HeadOutputs:
        """Decode the queries a batch asks for.

        Object queries run unless the samples carry prompts in training, or
        ``test_cfg.panoptic_on`` is False in eval; prompt queries run when
        the samples carry ``prompt_instances``.

        Args:
            x (tuple[Tensor]): The neck's single map, (B, C, H, W).
            batch_data_samples (list[DetDataSample]): Samples.

        Returns:
            dict[str, list[Tensor]]: see :meth:`decode`; also
            ``prompt_valid`` [(B, P)] when prompts ran.
        """
        features = x[0]
        has_prompts = any('prompt_instances' in s for s in batch_data_samples)
        with_objects = not has_prompts if self.training else \
            self.test_cfg.get('panoptic_on', True)
        prompt_queries = valid = priors = None
        if has_prompts:
            input_shape = batch_data_samples[0].batch_input_shape
            prompt_queries, valid, priors = self.encode_prompts(
                batch_data_samples, input_shape, features.device,
                features.shape[-2:])
            if prompt_queries.shape[1] == 0:
                prompt_queries = None
        if prompt_queries is None and not with_objects:
            with_objects = True
        out = self.decode(features, with_objects, prompt_queries,
                          prompt_priors=priors)
        if prompt_queries is not None:
            out['prompt_valid'] = [valid]
        return out

    # ------------------------------------------------------------------
    # training
    # ------------------------------------------------------------------
    def loss(self, x: Tuple[Tensor],
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses of an image batch (panoptic or prompt task).

        Args:
            x (tuple[Tensor]): The neck's single map, (B, C, H, W).
            batch_data_samples (list[DetDataSample]): ``gt_instances``
                (+ ``gt_sem_seg`` for panoptic); prompt samples carry
                ``prompt_instances`` aligned one-to-one with
                ``gt_instances.masks``.

        Returns:
            dict[str, Tensor]: Loss components.
        """
        metas = [s.metainfo for s in batch_data_samples]
        out = self(x, batch_data_samples)
        losses = {}
        if out['cls_logits']:
            gt_instances = self.preprocess_gt(
                [s.gt_instances for s in batch_data_samples],
                [s.get('gt_sem_seg', None) for s in batch_data_samples])
            losses.update(
                self.loss_by_feat(out['cls_logits'], out['mask_logits'],
                                  gt_instances, metas))
        if out['prompt_mask_logits']:
            losses.update(
                self.prompt_loss_by_feat(out['prompt_mask_logits'],
                                         out['prompt_iou_logits'],
                                         out['prompt_valid'][0],
                                         batch_data_samples))
        return self._touch_unused_parameters(losses)

    def loss_video(self, x: Tuple[Tensor], track_samples: TrackSampleList,
                   num_frames: int) -> Dict[str, Tensor]:
        """Losses of a batch of clips (video instance / panoptic task).

        Args:
            x (tuple[Tensor]): The neck's map of every frame,
                (N * T, C, H, W).
            track_samples (list[TrackDataSample]): Clips whose frames carry
                ``gt_instances`` with ``instances_ids``.
            num_frames (int): T.

        Returns:
            dict[str, Tensor]: Loss components.
        """
        features = frames_to_clip(x[0], num_frames)
        out = self.decode(features, with_objects=True)
        targets = batch_clip_targets(track_samples, self.num_things_classes,
                                     self.num_stuff_classes)
        metas = [s[0].metainfo for s in track_samples]
        losses = self.loss_by_feat(out['cls_logits'], out['mask_logits'],
                                   targets, metas)
        return self._touch_unused_parameters(losses)

    def _touch_unused_parameters(
            self, losses: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Give every head parameter a (zero) gradient.

        A batch holds one task, so the other task's branch is unused; with
        this term DDP runs with ``find_unused_parameters=False`` and never
        waits for gradients that do not come.
        """
        zero = sum(p.view(-1)[0] for p in self.parameters()
                   if p.requires_grad) * 0.
        key = next(k for k in losses if 'loss' in k)
        losses[key] = losses[key] + zero
        return losses

    def prompt_loss_by_feat(self, all_mask_logits: List[Tensor],
                            all_iou_logits: List[Tensor], valid: Tensor,
                            batch_data_samples: SampleList
                            ) -> Dict[str, Tensor]:
        """Mask, Dice and IoU losses of prompt queries on every layer.

        Args:
            all_mask_logits (list[Tensor]): Per layer (B, P, H, W).
            all_iou_logits (list[Tensor]): Per layer (B, P).
            valid (Tensor): (B, P) which prompts exist.
            batch_data_samples (list[DetDataSample]): ``gt_instances.masks``
                holds one mask per prompt, at the padded input size.

        Returns:
            dict[str, Tensor]: ``loss_prompt_{mask,dice,iou}`` of the last
            layer and ``d{i}.loss_prompt_*`` of the stages.
        """
        targets = []
        for i, sample in enumerate(batch_data_samples):
            masks = sample.gt_instances.masks
            if not isinstance(masks, Tensor):
                masks = masks.to_tensor(dtype=torch.bool, device=valid.device)
            n = int(valid[i].sum())
            if len(masks) != n:
                raise ValueError(
                    f'data_samples[{i}]: {n} prompts but '
                    f'{len(masks)} gt_instances.masks; prompt training needs '
                    'one mask per prompt')
            targets.append(masks.float())
        targets = torch.cat(targets)
        losses = {}
        num_layers = len(all_mask_logits)
        for layer, (mask_logits, iou_logits) in enumerate(
                zip(all_mask_logits, all_iou_logits)):
            prefix = '' if layer == num_layers - 1 else f'd{layer}.'
            mask_loss, dice_loss, iou_loss = self._prompt_loss_single(
                mask_logits[valid], iou_logits[valid], targets)
            losses[f'{prefix}loss_prompt_mask'] = mask_loss
            losses[f'{prefix}loss_prompt_dice'] = dice_loss
            losses[f'{prefix}loss_prompt_iou'] = iou_loss
        return losses

    def _prompt_loss_single(self, mask_logits: Tensor, iou_logits: Tensor,
                            targets: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Losses of one layer for (M, H, W) masks paired with targets."""
        num_masks = reduce_mean(mask_logits.new_tensor([len(targets)]))
        num_masks = max(num_masks, 1)
        if len(targets) == 0:
            zero = mask_logits.sum() + iou_logits.sum()
            return zero, zero, zero
        with torch.no_grad():
            coords = get_uncertain_point_coords_with_randomness(
                mask_logits.unsqueeze(1), None, self.num_points,
                self.oversample_ratio, self.importance_sample_ratio)
            point_targets = point_sample(targets.unsqueeze(1),
                                         coords).squeeze(1)
        point_logits = point_sample(mask_logits.unsqueeze(1),
                                    coords).squeeze(1)
        loss_dice = self.loss_dice(
            point_logits, point_targets, avg_factor=num_masks)
        loss_mask = self.loss_mask(
            point_logits.reshape(-1),
            point_targets.reshape(-1),
            avg_factor=num_masks * self.num_points)
        with torch.no_grad():
            if self.bounded_iou:
                iou_targets = mask_iou(mask_logits, targets)
            else:
                iou_targets = dice_coefficient(point_logits, point_targets)
        loss_iou = self.loss_iou(
            self.prompt_scores(iou_logits), iou_targets)
        return loss_mask, loss_dice, loss_iou

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def predict(self, x: Tuple[Tensor],
                batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Decode and upsample to the padded input size.

        Args:
            x (tuple[Tensor]): The neck's single map, (B, C, H, W).
            batch_data_samples (list[DetDataSample]): Samples, optionally
                with ``prompt_instances``.

        Returns:
            dict[str, Tensor]: ``cls_logits`` (B, N, K + 1) and
            ``mask_logits`` (B, N, H_in, W_in) of object queries when they
            ran (at stride 4, (B, N, H, W), when ``test_cfg.upsample_masks``
            is False); ``prompt_mask_logits`` (B, P, H_in, W_in),
            ``prompt_iou`` (B, P) (see ``bounded_iou``) and
            ``prompt_valid`` (B, P)
            when prompts ran.
        """
        out = self(x, batch_data_samples)
        size = batch_data_samples[0].batch_input_shape
        results = {}
        if out['cls_logits']:
            results['cls_logits'] = out['cls_logits'][-1]
            results['mask_logits'] = out['mask_logits'][-1]
            if self.test_cfg.get('upsample_masks', True):
                results['mask_logits'] = F.interpolate(
                    results['mask_logits'], size=size, mode='bilinear',
                    align_corners=False)
        if out['prompt_mask_logits']:
            results['prompt_mask_logits'] = F.interpolate(
                out['prompt_mask_logits'][-1], size=size, mode='bilinear',
                align_corners=False)
            results['prompt_iou'] = self.prompt_scores(
                out['prompt_iou_logits'][-1])
            results['prompt_valid'] = out['prompt_valid'][0]
        return results

    def predict_video(self, x: Tuple[Tensor],
                      num_frames: int) -> Dict[str, Tensor]:
        """Decode one clip.

        Args:
            x (tuple[Tensor]): The neck's map of every frame, (T, C, H, W).
            num_frames (int): T.

        Returns:
            dict[str, Tensor]: ``cls_logits`` (1, N, K + 1), ``mask_logits``
            (1, N, T * H, W) at stride 4, and ``object_embeds`` (1, N, C),
            the adapter's queries used to link clips.
        """
        out = self.decode(frames_to_clip(x[0], num_frames), with_objects=True)
        return dict(
            cls_logits=out['cls_logits'][-1],
            mask_logits=out['mask_logits'][-1],
            object_embeds=out['object_embeds'][0])
