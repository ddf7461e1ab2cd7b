"""Post-processing of RAP-SAM: every crop and resize of its masks.

One function resizes masks (:func:`resize_to_image`), and one head turns
the decoder's stride-4 logits into results: panoptic and instance results
of images (:meth:`RapSAMFusionHead.predict`), prompt masks
(:meth:`RapSAMFusionHead.predict_prompts`) and the per-frame tracks and
panoptic maps of a video (:meth:`RapSAMFusionHead.predict_video`).
"""
import functools
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData, PixelData
from torch import Tensor

from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.models.seg_heads.panoptic_fusion_heads import MaskFormerFusionHead
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from ..utils.mask_boxes import mask_boxes
from ..utils.mask_resize import resize_masks
from ..utils.mask_threshold import above
from .head_outputs import PromptPredictions
from .test_options import TestOptions

MaskLookup = Callable[[Tensor], Tensor]

#: Float bytes of the full-size logits :func:`positive_masks` resizes at
#: once: a few masks, which stay in the CPU's caches and below glibc's
#: mmap threshold (32 MiB).
CHUNK_BYTES = 16 << 20


def resize_to_image(masks: Tensor, meta: dict, rescale: bool) -> MaskLookup:
    """The one resize of mask logits to the image, on demand.

    Bilinear to the padded input (``batch_input_shape``), crop to
    ``img_shape``, and with ``rescale`` bilinear to ``ori_shape``, as
    :class:`MaskFormerFusionHead` does (through :func:`resize_masks`, the
    same values within the last bit, faster); a resize to the size the
    masks already have is an identity and is skipped.

    Args:
        masks (Tensor): (N, h, w) mask logits, at stride 4 or at the padded
            input size.
        meta (dict): ``batch_input_shape``, ``img_shape``, ``ori_shape``.
        rescale (bool): To the original image size.

    Returns:
        Callable: ``lookup(index, cache=False)``, (n,) long query indices
        -> (n, H, W) mask logits of those queries. With ``cache``, the
        resized masks are kept, and a later lookup of them (the instance
        results after the panoptic map) reuses them; without, they live as
        long as the result (one query at a time stays in the CPU's cache:
        R18 1344x800, about 60 queries: post-processing 74 -> 69 ms, and
        about 250 MB less).
    """
    pad_shape = tuple(meta['batch_input_shape'][:2])
    img_h, img_w = meta['img_shape'][:2]
    ori_shape = tuple(meta['ori_shape'][:2])
    resized: Dict[int, Tensor] = {}

    def resize(index: Tensor) -> Tensor:
        out = masks[index]
        if tuple(out.shape[-2:]) != pad_shape:
            out = resize_masks(out, pad_shape)
        out = out[:, :img_h, :img_w]
        if rescale and tuple(out.shape[-2:]) != ori_shape:
            out = resize_masks(out, ori_shape)
        return out

    def lookup(index: Tensor, cache: bool = False) -> Tensor:
        if len(index) == 0:
            h, w = ori_shape if rescale else (min(img_h, pad_shape[0]),
                                              min(img_w, pad_shape[1]))
            return masks.new_zeros(0, h, w)
        wanted = index.tolist()
        if resized.keys().isdisjoint(wanted):
            out = resize(index)
            if cache:
                resized.update(zip(wanted, out))
            return out
        missing = sorted(set(wanted) - resized.keys())
        fresh = dict(zip(missing, resize(index.new_tensor(missing)))) \
            if missing else {}
        if cache:
            resized.update(fresh)
        found = [resized[i] if i in resized else fresh[i] for i in wanted]
        return found[0][None] if len(found) == 1 else torch.stack(found)

    return lookup


def positive_masks(lookup: MaskLookup, index: Tensor) -> Tensor:
    """``lookup(index) > 0``, resized and thresholded a few masks at a time.

    The same masks without the (n, H, W) float logits: on a CPU each chunk
    of about :data:`CHUNK_BYTES` is thresholded while it is still in the
    caches, and no tensor large enough to be mmapped (and faulted in and
    zeroed by the kernel at each call) is made. 2 threads, Intel Xeon, 10
    masks 256x256 to 1024x1024: 37 -> 20 ms (13.5 -> 9.8 ms with
    :func:`~rap_sam.utils.keep_freed_memory`); 100 masks: 349 -> 142 ms.

    Args:
        lookup (Callable): Query indices -> full-size mask logits
            (:func:`resize_to_image`).
        index (Tensor): (n,) long query indices.

    Returns:
        Tensor: (n, H, W) bool.
    """
    if len(index) == 0:
        return lookup(index) > 0
    first = lookup(index[:1])
    out = first.new_empty((len(index), *first.shape[1:]), dtype=torch.bool)
    above(first, out=out[:1])
    step = len(index)
    if first.device.type == 'cpu':
        step = max(1, CHUNK_BYTES // (first[0].numel() * first.element_size()))
    for start in range(1, len(index), step):
        chunk = slice(start, start + step)
        above(lookup(index[chunk]), out=out[chunk])
    return out


@MODELS.register_module()
class RapSAMFusionHead(MaskFormerFusionHead):
    """MaskFormer's post-processing on RAP-SAM's stride-4 masks.

    :class:`MaskFormerFusionHead` takes every query's mask upsampled to the
    padded input and, with ``rescale``, resizes all of them again to the
    original image: 100 full-resolution maps, when the panoptic result uses
    only the queries above ``object_mask_thr`` and the instance result only
    the queries of its top-k (query, class) pairs. This head takes the
    masks at any resolution (the decoder's stride 4, or already at the
    padded input size), picks the queries each result needs and upsamples
    only those, through the same resizes (bilinear to the padded input,
    crop to ``img_shape``, bilinear to ``ori_shape``; both through
    :func:`resize_masks`, whose logits may differ from ``F.interpolate``'s
    in the last bit): the panoptic map, instance masks, boxes and labels
    are those of :class:`MaskFormerFusionHead` (the tests find them equal
    bit for bit), the instance scores up to
    the order of a float sum (relative 1e-7). A resize to the size a mask
    already has is an identity and is skipped. The panoptic map is painted
    in one pass instead of one pass per kept query.

    Prompt masks and videos go through the same resize
    (:func:`resize_to_image`): see :meth:`predict_prompts` and
    :meth:`predict_video`.

    Args:
        full_resolution (bool): Upsample every query's mask and run
            :class:`MaskFormerFusionHead`'s own post-processing (the
            reference, and the baseline of the speed benchmark). Defaults
            to False.
        Others: see :class:`MaskFormerFusionHead`.
    """

    def __init__(self, *args, full_resolution: bool = False,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.full_resolution = full_resolution
        self.options  # noqa: B018  (a misspelt test_cfg key fails here)

    @property
    def options(self) -> TestOptions:
        """``test_cfg`` as :class:`TestOptions` (read at each use, so that
        changes to ``test_cfg`` take effect)."""
        return TestOptions.from_cfg(self.test_cfg)

    def _panoptic_queries(self, mask_cls: Tensor) -> Tensor:
        """Indices of the queries :meth:`panoptic_postprocess` keeps."""
        scores, labels = F.softmax(mask_cls, dim=-1).max(-1)
        keep = labels.ne(self.num_classes) & (
            scores > self.options.object_mask_thr)
        return keep.nonzero()[:, 0]

    def panoptic_postprocess(
            self,
            mask_cls: Tensor,
            mask_pred: Tensor,
            instance_ids: Optional[Tensor] = None) -> PixelData:
        """:meth:`MaskFormerFusionHead.panoptic_postprocess`, vectorised.

        The same decisions, made from per-query pixel counts (one
        ``bincount`` of the argmax map, one sum of the thresholded masks)
        instead of full-size comparisons per query; the map is painted with
        one lookup. Identical output, including the instance ids: a query
        whose argmax region or thresholded mask is empty paints nothing and
        takes no id.

        Args:
            mask_cls (Tensor): (num_queries, num_classes + 1) logits.
            mask_pred (Tensor): (num_queries, H, W) mask logits.
            instance_ids (Tensor, optional): (num_queries,) the instance id
                of each query's thing (a video's track ids). Defaults to
                1, 2, ... in query order over the things that are painted.

        Returns:
            :obj:`PixelData`: ``sem_seg`` (1, H, W) int32,
            ``label + instance_id * INSTANCE_OFFSET``, ``num_classes`` void.
        """
        options = self.options
        object_mask_thr = options.object_mask_thr
        iou_thr = options.iou_thr
        filter_low_score = options.filter_low_score

        scores, labels = F.softmax(mask_cls, dim=-1).max(-1)
        keep = labels.ne(self.num_classes) & (scores > object_mask_thr)
        kept = keep.nonzero()[:, 0]
        cur_classes = labels[keep]
        h, w = mask_pred.shape[-2:]
        void = self.num_classes
        if len(kept) == 0:
            return PixelData(sem_seg=torch.full(
                (1, h, w), void, dtype=torch.int32, device=mask_pred.device))

        num = len(kept)
        mask_ids, owner_above, original_areas = self._owners(
            mask_pred, kept, scores[keep])
        mask_areas = torch.bincount(mask_ids.flatten(), minlength=num)
        values = []
        instance_id = 1
        given_ids = instance_ids[keep].tolist() if instance_ids is not None \
            else [None] * num
        for pred_class, mask_area, original_area, given_id in zip(
                cur_classes.tolist(), mask_areas.tolist(),
                original_areas.tolist(), given_ids):
            # An empty region paints nothing and takes no instance id.
            if mask_area == 0 or original_area == 0 or \
                    mask_area / original_area < iou_thr:
                values.append(void)
            elif pred_class >= self.num_things_classes:
                values.append(pred_class)
            elif given_id is not None:
                values.append(pred_class + given_id * INSTANCE_OFFSET)
            else:
                values.append(pred_class + instance_id * INSTANCE_OFFSET)
                instance_id += 1
        values = torch.tensor(
            values, dtype=torch.int32, device=mask_pred.device)
        panoptic_seg = values[mask_ids]
        if filter_low_score:
            panoptic_seg = torch.where(
                owner_above, panoptic_seg, panoptic_seg.new_tensor(void))
        return PixelData(sem_seg=panoptic_seg[None])

    @staticmethod
    def _owners(mask_pred: Tensor, kept: Tensor,
                kept_scores: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Which kept query owns each pixel, one query at a time.

        The owner is the first query of the largest ``score * sigmoid``
        (``argmax`` over the queries); one query's full-size maps at a time
        stay in the cache, where a (num_kept, H, W) product and its argmax
        (over the first dimension: slow on the CPU) would not.

        Args:
            mask_pred (Tensor): (num_queries, H, W) mask logits.
            kept (Tensor): (n,) indices of the kept queries.
            kept_scores (Tensor): (n,) their class scores.

        Returns:
            tuple[Tensor]: ``owner`` (H, W) long, index into ``kept``;
            ``owner_above`` (H, W) bool, the owner's sigmoid >= 0.5; and
            ``areas`` (n,) long, the pixels of each kept query's sigmoid
            >= 0.5.
        """
        areas = []
        owner = best = owner_above = None
        # Up to 255 queries the owner is a uint8 map and both selections
        # are bitwise, ``x ^ ((x ^ new) & better)``: masked_fill_ and
        # where over a full-size map took 1.3-4 ms each on the CPU, the
        # bitwise selections 0.1-0.2 ms (1333x800).
        small = len(kept) < 256
        for i, (query, score) in enumerate(zip(kept.tolist(), kept_scores)):
            prob = mask_pred[query].sigmoid()
            above = prob >= 0.5
            areas.append(above.count_nonzero())
            weighted = prob.mul_(score)
            if i == 0:
                owner = torch.zeros(
                    prob.shape,
                    dtype=torch.uint8 if small else torch.long,
                    device=prob.device)
                best, owner_above = weighted, above
                continue
            better = weighted > best
            torch.maximum(best, weighted, out=best)
            if small:
                owner ^= (owner ^ i) & better.view(torch.uint8).neg()
            else:
                owner.masked_fill_(better, i)
            owner_above = owner_above ^ ((owner_above ^ above) & better)
        return owner.long(), owner_above, torch.stack(areas)

    @staticmethod
    def _instance_masks(lookup: MaskLookup, queries: Tensor
                        ) -> Tuple[Tensor, Tensor, Tensor]:
        """Binary masks, mask scores and boxes of some queries, one query
        at a time (:meth:`MaskFormerFusionHead.instance_postprocess`'s
        steps, without (n, H, W) float temporaries).

        A query listed more than once is resized and scored once, and its
        mask copied into its other rows. The sigmoid of the logits
        thresholded at 0 with ``-inf`` below is 0 outside the mask and
        above 0.5 inside it: its sum is the one of ``sigmoid * mask`` (the
        same values in the same order) and its nonzeros are the mask, in
        three passes over the pixels instead of six (R18 1344x800, about
        60 queries: 112 -> 73 ms with the repeats).

        Args:
            lookup (Callable): Query indices -> full-size mask logits.
            queries (Tensor): (n,) query indices, repeats allowed.

        Returns:
            tuple[Tensor]: ``masks`` (n, H, W) bool (logit > 0),
            ``scores`` (n,) the mean sigmoid inside each mask, and
            ``bboxes`` (n, 4).
        """
        if len(queries) == 0:
            masks = lookup(queries).bool()
            return masks, masks.new_zeros(0, dtype=torch.float32), \
                mask_boxes(masks)
        scores, masks, first_row = [], None, {}
        for row, query in enumerate(queries.tolist()):
            if query in first_row:
                masks[row].copy_(masks[first_row[query]])
                scores.append(scores[first_row[query]])
                continue
            first_row[query] = row
            logits = lookup(queries[row:row + 1])[0]
            if masks is None:
                masks = logits.new_empty((len(queries), *logits.shape),
                                         dtype=torch.bool)
            probs = F.threshold(logits, 0., float('-inf')).sigmoid_()
            binary = masks[row].copy_(probs)  # logit > 0
            scores.append(probs.sum() /
                          (binary.count_nonzero().float() + 1e-6))
        return masks, torch.stack(scores), mask_boxes(masks)

    def instance_from_lookup(self, mask_cls: Tensor,
                             lookup: MaskLookup) -> InstanceData:
        """:meth:`instance_postprocess` with masks fetched on demand.

        The steps are those of
        :meth:`MaskFormerFusionHead.instance_postprocess`, row by row; only
        the masks of the queries in the top-k are resized, scored and boxed
        (each query once).

        Args:
            mask_cls (Tensor): (num_queries, num_classes + 1) logits.
            lookup (Callable): Query indices -> full-size mask logits.

        Returns:
            :obj:`InstanceData`: ``bboxes``, ``labels``, ``scores`` and
            ``masks`` (n, H, W) bool.
        """
        max_per_image = self.options.max_per_image
        num_queries = mask_cls.shape[0]
        scores = F.softmax(mask_cls, dim=-1)[:, :-1]
        labels = torch.arange(self.num_classes, device=mask_cls.device).\
            unsqueeze(0).repeat(num_queries, 1).flatten(0, 1)
        scores_per_image, top_indices = scores.flatten(0, 1).topk(
            max_per_image, sorted=False)
        labels_per_image = labels[top_indices]
        query_indices = top_indices // self.num_classes

        is_thing = labels_per_image < self.num_things_classes
        scores_per_image = scores_per_image[is_thing]
        labels_per_image = labels_per_image[is_thing]
        query_indices = query_indices[is_thing]
        masks, mask_scores, bboxes = self._instance_masks(
            lookup, query_indices)

        results = InstanceData()
        results.bboxes = bboxes
        results.labels = labels_per_image
        results.scores = scores_per_image * mask_scores
        results.masks = masks
        return results

    def predict(self,
                mask_cls_results: Tensor,
                mask_pred_results: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = False,
                instance_on: Optional[bool] = None,
                **kwargs) -> List[dict]:
        """Panoptic (and instance) results of a batch.

        Args:
            mask_cls_results (Tensor): (B, N, num_classes + 1) logits.
            mask_pred_results (Tensor): (B, N, h, w) mask logits at the
                decoder's resolution or at the padded input size.
            batch_data_samples (list[DetDataSample]): Samples with
                ``batch_input_shape``, ``img_shape`` and ``ori_shape``.
            rescale (bool): Results at the original image size.
            instance_on (bool, optional): Overrides ``test_cfg.instance_on``
                for this call.

        Returns:
            list[dict]: ``pan_results`` (:obj:`PixelData`) and, with
            ``test_cfg.instance_on``, ``ins_results`` (:obj:`InstanceData`)
            of each image, as :meth:`MaskFormerFusionHead.predict`.
        """
        options = self.options
        panoptic_on = options.panoptic_on
        if instance_on is None:
            instance_on = options.instance_on
        if options.semantic_on:
            raise ValueError('test_cfg.semantic_on: semantic segmentation '
                             'results are not supported')
        results = []
        # Post-processing runs in fp32 whatever the decoder's precision.
        for mask_cls, masks, sample in zip(mask_cls_results.float(),
                                           mask_pred_results.float(),
                                           batch_data_samples):
            lookup = resize_to_image(masks, sample.metainfo, rescale)
            result = dict()
            if self.full_resolution:
                full = lookup(torch.arange(len(masks), device=masks.device))
                if panoptic_on:
                    result['pan_results'] = super().panoptic_postprocess(
                        mask_cls, full)
                if instance_on:
                    result['ins_results'] = self.instance_postprocess(
                        mask_cls, full)
            elif panoptic_on:
                keep = self._panoptic_queries(mask_cls)
                result['pan_results'] = self.panoptic_postprocess(
                    mask_cls[keep], lookup(keep, cache=instance_on))
            if instance_on and not self.full_resolution:
                result['ins_results'] = self.instance_from_lookup(
                    mask_cls, lookup)
            results.append(result)
        return results

    @staticmethod
    def predict_prompts(prompts: Optional[PromptPredictions],
                        batch_data_samples: SampleList,
                        rescale: bool = True) -> List[Optional[InstanceData]]:
        """Binary masks of the prompts of each image.

        Args:
            prompts (PromptPredictions, optional): The head's prompt
                outputs; None when no sample held a prompt.
            batch_data_samples (list[DetDataSample]): Samples; those with
                ``prompt_instances`` get a result.
            rescale (bool): Masks at the original image size.

        Returns:
            list[InstanceData | None]: Per sample: ``masks`` (P, H, W) bool
            and ``iou_scores`` (P,), in the order of its prompts; None for
            a sample without ``prompt_instances``.
        """
        results = []
        for i, sample in enumerate(batch_data_samples):
            if 'prompt_instances' not in sample:
                results.append(None)
                continue
            if prompts is None:
                index = torch.zeros(0, dtype=torch.long)
                logits = torch.zeros(0, 1, 1)
                scores = torch.zeros(0)
            else:
                valid = prompts.valid[i]
                index = valid.nonzero()[:, 0]
                logits = prompts.mask_logits[i].float()
                scores = prompts.iou_scores[i][valid].float()
            masks = positive_masks(
                resize_to_image(logits, sample.metainfo, rescale), index)
            results.append(InstanceData(masks=masks, iou_scores=scores))
        return results

    def predict_video(self,
                      class_probs: Tensor,
                      frame_mask_logits: Tensor,
                      frame_metas: List[dict],
                      rescale: bool = True,
                      score_thr: Optional[float] = None) -> List[Dict]:
        """Per-frame results of a video whose queries are identities.

        Tracks: the ``test_cfg.max_per_video`` (default 10) best (query,
        class) pairs of the video by class probability, each with its mask
        on every frame and the same id on every frame. With
        ``test_cfg.video_panoptic_on``, also a panoptic map per frame:
        :meth:`panoptic_postprocess` of the frame's masks with the video's
        class decisions, a thing keeping the id ``query slot + 1`` on every
        frame.

        Args:
            class_probs (Tensor): (N, K + 1) class probabilities of the
                video's query slots, no-object last.
            frame_mask_logits (Tensor): (N, T, h, w) mask logits of each
                slot on each frame, at stride 4.
            frame_metas (list[dict]): Metainfo of each frame
                (``batch_input_shape``, ``img_shape``, ``ori_shape``).
            rescale (bool): Results at the original image size.
            score_thr (float, optional): Drop the tracks scoring at most
                this before their masks are resized (a streaming viewer
                shows only those above it). Defaults to None: all
                ``max_per_video`` tracks, as VIS mAP scores them.

        Returns:
            list[dict]: Per frame, ``track_results`` (:obj:`InstanceData`:
            ``masks`` (k, H, W) bool, ``scores``, ``labels``, ``bboxes``,
            ``instances_id`` (k,) and ``query_index`` (k,), the slot of
            each track) and, for video panoptic segmentation,
            ``pan_results`` (:obj:`PixelData`).
        """
        class_probs = class_probs.float()
        frame_mask_logits = frame_mask_logits.float()
        num_classes = class_probs.shape[1] - 1
        scores = class_probs[:, :-1]
        k = min(self.options.max_per_video, scores.numel())
        top_scores, top_idx = scores.flatten().topk(k)
        if score_thr is not None:
            shown = top_scores > score_thr
            top_scores, top_idx = top_scores[shown], top_idx[shown]
            k = len(top_idx)
        labels = top_idx % num_classes
        queries = top_idx // num_classes
        video_panoptic = self.options.video_panoptic_on
        log_probs = class_probs.clamp(min=1e-12).log()
        slot_ids = torch.arange(
            1, len(class_probs) + 1, device=class_probs.device)
        results = []
        for t, meta in enumerate(frame_metas):
            lookup = resize_to_image(frame_mask_logits[:, t], meta, rescale)
            masks = positive_masks(
                functools.partial(lookup, cache=video_panoptic), queries)
            result = dict(
                track_results=InstanceData(
                    masks=masks,
                    scores=top_scores,
                    labels=labels,
                    bboxes=mask_boxes(masks),
                    instances_id=torch.arange(k, device=masks.device),
                    query_index=queries))
            if video_panoptic:
                keep = self._panoptic_queries(log_probs)
                result['pan_results'] = self.panoptic_postprocess(
                    log_probs[keep], lookup(keep), slot_ids[keep])
            results.append(result)
        return results
