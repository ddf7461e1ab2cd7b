"""RAP-SAM head: shared dynamic-conv decoder, adapters, targets, losses."""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule, ModuleList
from torch import Tensor

from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures import SampleList, TrackSampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from ..layers import FactoredMap
from .adapters import ObjectAdapter, PromptAdapter
from .clip_targets import batch_clip_targets, frames_to_clip
from .decoder_stage import DynamicConvDecoderStage
from .head_outputs import (HeadPredictions, ObjectPredictions,
                           PromptPredictions)
from .mask2former_losses import Mask2FormerLosses
from .pixel_features import (PackedPixelKV, PixelFeatures,
                             onednn_packing_available)

HeadOutputs = Dict[str, List[Tensor]]


def tracing() -> bool:
    """Whether the code is being traced, compiled or exported, where the
    plain products keep the graph portable (ONNX, other devices)."""
    return (torch.jit.is_tracing() or torch.compiler.is_compiling()
            or torch.onnx.is_in_onnx_export())


def default_kernel(features: Tensor) -> str:
    """The :class:`PixelFeatures` kernel :func:`decoder_features` gives
    ``features`` (in its dtype) for one pass: ``'onednn'`` for fp32 and
    bf16 maps on a CPU, else ``'torch'``, as while tracing, compiling or
    exporting, where the plain products keep the graph portable (ONNX,
    other devices).

    R18, 2 threads, A/B in one process against ``'torch'`` (training) and
    the previous inference defaults: 1333x800 panoptic + 10 clicks,
    channels-last, fp32 512 -> 503 ms (``'packed'``: products 92 ms +
    packing 31 ms; ``'onednn'``: products 112 ms), bf16 352 -> 342 ms
    (``'torch'`` and the NCHW copy it needs); a training step at 288x192,
    batch 2, 5-6 % faster (0.365 -> 0.348 s and 0.413 -> 0.390 s, medians
    of 20 in two runs).
    """
    if tracing() or not onednn_packing_available(features):
        return 'torch'
    return 'onednn'


def decoder_features(features: Union[Tensor, FactoredMap, PixelFeatures],
                     kernel: Optional[str] = None) -> PixelFeatures:
    """``features`` as the decoder's matmuls read them best: under
    autocast in its dtype (else each would cast it), and NCHW-contiguous
    for the ``'torch'`` kernel (each of its products would copy a
    channels-last map; the oneDNN kernels read either layout).

    Args:
        features (Tensor | FactoredMap | PixelFeatures): (B, C, H, W)
            stride-4 map, or the neck's factored map (its basis is
            prepared); one already prepared is returned as it is.
        kernel (str, optional): The :class:`PixelFeatures` kernel. Defaults
            to :func:`default_kernel`.
    """
    if isinstance(features, PixelFeatures):
        return features
    factored = isinstance(features, FactoredMap)
    pixels = features.basis if factored else features
    device = pixels.device.type
    if torch.is_autocast_enabled(device):
        pixels = pixels.to(torch.get_autocast_dtype(device))
    if kernel is None:
        kernel = default_kernel(pixels)
    if kernel == 'torch':
        pixels = pixels.contiguous()
    if factored:
        pixels = FactoredMap(pixels, features.weight)
    return PixelFeatures(pixels, kernel)


@MODELS.register_module()
class RapSAMHead(Mask2FormerLosses):
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
    queries, sampled faster by :class:`Mask2FormerLosses` (Hungarian
    matching on point-sampled costs; CE, BCE and Dice on importance-sampled
    points) on every stage and the adapter. Prompt
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
            stride 4, so scores lie in [0, 1]. Passed to ``prompt_loss``.
        loss_cls (dict): Classification loss (class_weight gives the
            no-object weight).
        loss_mask (dict): Mask BCE loss.
        loss_dice (dict): Dice loss.
        prompt_loss (dict): :class:`PromptLoss` of prompt queries; the
            head's ``loss_mask`` and ``loss_dice``, the point sampling of
            ``train_cfg`` and ``bounded_iou`` are its defaults.
        train_cfg (dict, optional): ``assigner``, ``sampler``,
            ``num_points``, ``oversample_ratio``, ``importance_sample_ratio``.
        test_cfg (dict, optional): The detector's test options; the head
            reads none (the masks of :meth:`predict` stay at stride 4 for
            :class:`RapSAMFusionHead`, which resizes only those it uses).
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
                 prompt_loss: ConfigType = dict(type='PromptLoss'),
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
        #: The :class:`PixelFeatures` kernel of the map in eval mode; None:
        #: :func:`default_kernel`. ``'int8'`` is set by
        #: :func:`rap_sam.inference.quantize_model` (precision ``'int8'``).
        self.pixel_kernel: Optional[str] = None

        self.classifier = MODELS.build(
            classifier, default_args=dict(num_classes=self.num_classes))
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
        sampling = {
            k: v
            for k, v in (train_cfg or {}).items()
            if k in ('num_points', 'oversample_ratio',
                     'importance_sample_ratio')
        }
        self.prompt_loss = MODELS.build(
            prompt_loss, default_args=dict(loss_mask=loss_mask,
                                           loss_dice=loss_dice,
                                           bounded_iou=bounded_iou,
                                           **sampling))

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
        return self.prompt_loss.scores(iou_logits)

    @property
    def active_classifier(self) -> nn.Module:
        """The test vocabulary in eval mode when one is configured."""
        if not self.training and self.test_classifier is not None:
            return self.test_classifier
        return self.classifier

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def _decode(self,
                features: Union[Tensor, PixelFeatures],
                with_objects: bool = True,
                prompt_queries: Optional[Tensor] = None,
                prompt_kv: Optional[Union[Tuple[Tensor, Tensor],
                                          PackedPixelKV]] = None,
                prompt_priors: Optional[Tensor] = None,
                all_layers: bool = True) -> HeadOutputs:
        """Run the shared decoder and the adapters.

        Args:
            features (Tensor | PixelFeatures): (B, C, H, W) stride-4
                features (a clip's frames stacked vertically for video),
                or a predictor's :func:`decoder_features` of them.
            with_objects (bool): Decode the object queries.
            prompt_queries (Tensor, optional): (B, P, C) prompt queries.
            prompt_kv (tuple[Tensor] | PackedPixelKV, optional): The
                prompt adapter's pixel keys and values of ``features``
                (:meth:`PromptAdapter.pixel_kv`, or packed), cached by a
                predictor that prompts the same image again. Computed when
                needed otherwise.
            prompt_priors (Tensor, optional): (B, P, H, W) bool, the
                region each prompt points at
                (:meth:`PromptEncoder.prior_masks`): the first stage pools
                the prompt queries' features there. Without it, prompt
                queries pool under their dot-product masks, as object
                queries do.
            all_layers (bool): The prompt masks of every layer (the
                losses, parity checks). When False, the last stage skips
                them: only the adapter's are a prediction, and its
                cross-attention does not pool.

        Returns:
            dict[str, list[Tensor]]: per layer (stages, then adapter):
            ``cls_logits`` (B, N, K + 1) and ``mask_logits`` (B, N, H, W)
            of object queries; ``prompt_mask_logits`` (B, P, H, W) and
            ``prompt_iou_logits`` (B, P) of prompt queries.
        """
        pixels = decoder_features(
            features, None if self.training else self.pixel_kernel)
        b = pixels.shape[0]
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
            mask_logits = pixels.mask_logits(kernels)
        else:
            # Far beyond any pooling threshold: inside pooled, outside not.
            prior_logits = prompt_priors.to(pixels.dtype) * 2e4 - 1e4
            mask_logits = torch.cat([
                pixels.mask_logits(kernels[:, :num_obj]), prior_logits
            ], dim=1)
        out: HeadOutputs = dict(
            cls_logits=[], mask_logits=[], prompt_mask_logits=[],
            prompt_iou_logits=[])
        for i, stage in enumerate(self.stages):
            last = i == len(self.stages) - 1
            cls_logits, mask_logits, iou_logits, kernels = stage(
                pixels, kernels, mask_logits, classifier, attn_mask,
                num_classified=num_obj,
                num_masked=None if all_layers or not last else num_obj)
            if with_objects:
                out['cls_logits'].append(cls_logits)
                out['mask_logits'].append(mask_logits[:, :num_obj])
            if prompt_queries is not None:
                out['prompt_mask_logits'].append(mask_logits[:, num_obj:])
                out['prompt_iou_logits'].append(iou_logits[:, num_obj:])
        if with_objects:
            cls_logits, obj_masks, obj_kernels = self.object_adapter(
                pixels, kernels[:, :num_obj], mask_logits[:, :num_obj],
                classifier)
            out['cls_logits'].append(cls_logits)
            out['mask_logits'].append(obj_masks)
            out['object_embeds'] = [obj_kernels]
        if prompt_queries is not None:
            prompt_masks, prompt_iou, _ = self.prompt_adapter(
                pixels, kernels[:, num_obj:], prompt_kv)
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

    def forward(self,
                x: Tuple[Tensor],
                batch_data_samples: SampleList,
                with_objects: Optional[bool] = None,
                prompt_kv: Optional[Union[Tuple[Tensor, Tensor],
                                          PackedPixelKV]] = None,
                all_layers: bool = True) -> HeadOutputs:
        """Decode the queries a batch asks for, every layer.

        Prompt queries run when the samples carry ``prompt_instances``.

        Args:
            x (tuple[Tensor | FactoredMap]): The neck's single map, (B, C,
                H, W), or its factored form (:meth:`RapSAM.extract_feat`).
            batch_data_samples (list[DetDataSample]): Samples.
            with_objects (bool, optional): Decode the object queries.
                Defaults to: unless prompts come in training (a batch holds
                one task). Without prompts they always run.
            prompt_kv (tuple[Tensor], optional): Cached pixel keys and
                values of the prompt adapter (see :meth:`_decode`).
            all_layers (bool): See :meth:`_decode`. Defaults to True.

        Returns:
            dict[str, list[Tensor]]: see :meth:`_decode`; also
            ``prompt_valid`` [(B, P)] when prompts ran.
        """
        features = x[0]
        has_prompts = any('prompt_instances' in s for s in batch_data_samples)
        if with_objects is None:
            with_objects = not (has_prompts and self.training)
        prompt_queries = valid = priors = None
        if has_prompts:
            input_shape = batch_data_samples[0].batch_input_shape
            prompt_queries, valid, priors = \
                self.prompt_encoder.encode_samples(
                    batch_data_samples, input_shape, features.device,
                    features.shape[-2:] if self.prompt_prior else None)
            if prompt_queries.shape[1] == 0:
                prompt_queries = None
        if prompt_queries is None and not with_objects:
            with_objects = True
        out = self._decode(features, with_objects, prompt_queries, prompt_kv,
                           priors, all_layers)
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
                self.prompt_loss(out['prompt_mask_logits'],
                                 out['prompt_iou_logits'],
                                 out['prompt_valid'][0], batch_data_samples))
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
        out = self._decode(features, with_objects=True)
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

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def predict(self,
                x: Tuple[Tensor],
                batch_data_samples: SampleList,
                with_objects: bool = True,
                prompt_kv: Optional[Tuple[Tensor, Tensor]] = None
                ) -> HeadPredictions:
        """Decode a batch of images for prediction.

        Args:
            x (tuple[Tensor | FactoredMap]): The neck's single map, (B, C,
                H, W), or its factored form (:meth:`RapSAM.extract_feat`).
            batch_data_samples (list[DetDataSample]): Samples, optionally
                with ``prompt_instances``.
            with_objects (bool): Decode the object queries too (in the
                same pass as the prompts). Without prompts they always
                run. Defaults to True.
            prompt_kv (tuple[Tensor], optional): The prompt adapter's pixel
                keys and values of these features, cached by a caller that
                prompts the same image again
                (:meth:`PromptAdapter.pixel_kv`).

        Returns:
            HeadPredictions: The last layer's outputs at stride 4, for
            :class:`RapSAMFusionHead`.
        """
        return self._predictions(
            self(x, batch_data_samples, with_objects, prompt_kv,
                 all_layers=False))

    def predict_from_queries(
            self,
            features: Tensor,
            prompt_queries: Optional[Tensor] = None,
            prompt_valid: Optional[Tensor] = None,
            prompt_priors: Optional[Tensor] = None,
            with_objects: bool = True) -> HeadPredictions:
        """:meth:`predict` from encoded prompts (see
        :meth:`PromptEncoder.encode`), for graphs that take prompt
        tensors rather than data samples (ONNX export).

        Args:
            features (Tensor): (B, C, h, w) stride-4 features.
            prompt_queries (Tensor, optional): (B, P, C).
            prompt_valid (Tensor, optional): (B, P) bool. Defaults to all.
            prompt_priors (Tensor, optional): (B, P, h, w) bool.
            with_objects (bool): Decode the object queries too.

        Returns:
            HeadPredictions: As :meth:`predict`.
        """
        out = self._decode(features, with_objects, prompt_queries,
                           prompt_priors=prompt_priors, all_layers=False)
        if prompt_queries is not None:
            out['prompt_valid'] = [
                prompt_valid if prompt_valid is not None else
                prompt_queries.new_ones(prompt_queries.shape[:2],
                                        dtype=torch.bool)
            ]
        return self._predictions(out)

    def _predictions(self, out: HeadOutputs) -> HeadPredictions:
        """The last layer of :meth:`_decode`'s outputs, typed."""
        preds = HeadPredictions()
        if out['cls_logits']:
            preds.objects = ObjectPredictions(out['cls_logits'][-1],
                                              out['mask_logits'][-1],
                                              out['object_embeds'][0])
        if out['prompt_mask_logits']:
            preds.prompts = PromptPredictions(
                out['prompt_mask_logits'][-1],
                self.prompt_scores(out['prompt_iou_logits'][-1]),
                out['prompt_valid'][0])
        return preds

    def predict_video(self, x: Tuple[Tensor],
                      num_frames: int) -> ObjectPredictions:
        """Decode clips as tall maps, one query per identity.

        Args:
            x (tuple[Tensor | FactoredMap]): The neck's map of every frame,
                (N * T, C, H, W).
            num_frames (int): T.

        Returns:
            ObjectPredictions: ``mask_logits`` (N, Q, T * H, W) at stride 4
            (frames stacked vertically, see :func:`clip_to_frames`).
        """
        features = frames_to_clip(x[0], num_frames)
        return self._predictions(self._decode(features)).objects
