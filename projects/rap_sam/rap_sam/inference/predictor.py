"""SAM-style predictor: set an image once, prompt it many times."""
from typing import Dict, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.structures import DetDataSample
from ..models.heads import PixelFeatures, decoder_features
from ..models.heads.pixel_features import (PackedPixelKV,
                                           onednn_packing_available)
from .autocast_weights import keep_autocast_weights
from .image_io import ImageLike, to_rgb_uint8
from .int8_backbone import Int8Backbone
from .int8_model import quantize_model
from .precision import autocast, precision_dtype, resolve_precision


def use_random_embeddings(cfg: Config) -> Config:
    """Switch a config's classifiers to random class embeddings.

    No file is then needed to build the model: for demos, tests and speed
    runs. The training classifier gets ``num_things + num_stuff`` classes,
    the test classifier (if any) the classes of the fusion head.
    """
    head = cfg.model.panoptic_head
    fusion = cfg.model.get('panoptic_fusion_head', {})
    sizes = dict(
        classifier=head.num_things_classes + head.num_stuff_classes,
        test_classifier=fusion.get('num_things_classes', 0) +
        fusion.get('num_stuff_classes', 0))
    for key, num_classes in sizes.items():
        clf = head.get(key)
        if not clf:
            continue
        clf.embedding_file = None
        clf.random_embeddings = True
        if not clf.get('class_names'):
            clf.num_classes = num_classes
    return cfg


# Keys a checkpoint may lack: this project's zero-initialised click
# embedding, absent from converted official checkpoints.
OPTIONAL_KEYS = ('panoptic_head.prompt_encoder.click_embed.weight', )


def load_weights(model: torch.nn.Module,
                 checkpoint: str,
                 strict: bool = True,
                 unsafe_load: bool = False) -> None:
    """Load a local checkpoint's state dict into a model.

    Args:
        model (nn.Module): The model.
        checkpoint (str): Local checkpoint (runner checkpoint or a plain
            state dict), loaded weights-only unless ``unsafe_load``.
        strict (bool): Missing (other than :data:`OPTIONAL_KEYS`) or
            unexpected keys are an error. Defaults to True.
        unsafe_load (bool): Unpickle anything: only for trusted files.

    Raises:
        ValueError: Naming the file and the keys or shapes that do not
            fit the model.
    """
    from ..utils import load_checkpoint
    ckpt = load_checkpoint(checkpoint, unsafe=unsafe_load)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f'{checkpoint}: no state dict in the checkpoint')
    state = {k[7:] if k.startswith('module.') else k: v
             for k, v in state.items()}
    own = model.state_dict()
    mismatched = [
        f'{k}: checkpoint {tuple(v.shape)}, model {tuple(own[k].shape)}'
        for k, v in state.items() if k in own and own[k].shape != v.shape
    ]
    if mismatched:
        raise ValueError(
            f'{checkpoint}: {len(mismatched)} tensors do not fit the model '
            '(another backbone or config?): ' + '; '.join(mismatched[:5]))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k not in OPTIONAL_KEYS]
    if strict and (missing or unexpected):
        raise ValueError(
            f'{checkpoint}: {len(missing)} missing keys {missing[:5]}, '
            f'{len(unexpected)} unexpected keys {unexpected[:5]}; pass '
            'strict=False to load it anyway')


def build_model(config: Union[str, Config],
                checkpoint: Optional[str] = None,
                device: str = 'cpu',
                random_weights: bool = False,
                cfg_options: Optional[dict] = None,
                strict: bool = True,
                unsafe_load: bool = False) -> torch.nn.Module:
    """Build a RAP-SAM model from a config, in eval mode.

    Args:
        config (str | Config): Config file or object.
        checkpoint (str, optional): Local checkpoint to load (URLs are
            refused), weights-only.
        device (str): Device. Defaults to 'cpu'.
        random_weights (bool): Allow building without an embedding file
            (random class embeddings); the weights stay random unless a
            checkpoint is given.
        cfg_options (dict, optional): Extra config overrides.
        strict (bool): See :func:`load_weights`. Defaults to True.
        unsafe_load (bool): See :func:`load_weights`. Defaults to False.

    Returns:
        nn.Module: The model.
    """
    import rap_sam  # noqa: F401  (registers the modules)
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if random_weights:
        use_random_embeddings(cfg)
    cfg.merge_from_dict(cfg_options or {})
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        load_weights(model, checkpoint, strict, unsafe_load)
    model.cfg = cfg
    return model.to(device).eval()


def click_labels(point_labels: Union[np.ndarray, Sequence]) -> np.ndarray:
    """Click labels as int64: 1 positive, 0 negative, -1 padding.

    Integers, bools (True positive) and floats that are exactly 1, 0 or -1
    are accepted; anything else (2, 0.7, NaN) is an error.

    Raises:
        ValueError: Naming ``point_labels`` and the first bad value.
    """
    raw = np.asarray(point_labels)
    if raw.dtype.kind not in 'biuf':
        raise ValueError(f'point_labels must be numbers, got {raw.dtype}')
    bad = ~np.isin(raw, (-1, 0, 1))
    if bad.any():
        raise ValueError('point_labels must be 1 (positive), 0 (negative) '
                         f'or -1 (padding), got {raw[bad].flat[0]}')
    return raw.astype(np.int64)


def prepare_image(model: torch.nn.Module, rgb: np.ndarray,
                  scale: Tuple[int, int]) -> Tuple[Tensor, Dict]:
    """Resize an RGB image to fit ``scale`` keeping its ratio (the test
    pipeline's ``Resize(keep_ratio=True)``) and normalise and pad it with
    the model's data preprocessor.

    Args:
        model (nn.Module): A RAP-SAM model.
        rgb (np.ndarray): (H, W, 3) uint8 RGB.
        scale (tuple[int, int]): Longest and shortest side.

    Returns:
        tuple: the (1, 3, H', W') padded batch and its sample meta.

    Raises:
        ValueError: An aspect ratio so extreme that the shorter side would
            get under 8 pixels.
    """
    (new_w, new_h), _ = mmcv.rescale_size(
        rgb.shape[1::-1], scale, return_scale=True)
    if min(new_w, new_h) < 8:
        raise ValueError(
            f'image of {rgb.shape[1]}x{rgb.shape[0]} pixels: resized to '
            f'fit {scale[0]}x{scale[1]} it would be '
            f'{new_w}x{new_h}; its aspect ratio is too extreme (the '
            'shorter side needs 8 pixels or more after resizing)')
    resized = mmcv.imrescale(rgb, scale)
    h, w = resized.shape[:2]
    # The data preprocessor expects BGR input when bgr_to_rgb is set
    # (OpenCV swaps the channels in 0.03 ms, indexing them 0.5 ms).
    bgr = torch.from_numpy(mmcv.rgb2bgr(resized)).permute(2, 0, 1)
    data = model.data_preprocessor(
        dict(inputs=[bgr], data_samples=[DetDataSample()]), False)
    batch_input_shape = tuple(data['inputs'].shape[-2:])
    meta = dict(
        ori_shape=rgb.shape[:2],
        img_shape=(h, w),
        batch_input_shape=batch_input_shape,
        pad_shape=batch_input_shape,
        scale_factor=(w / rgb.shape[1], h / rgb.shape[0]))
    return data['inputs'], meta


class RapSAMPredictor:
    """Interactive and panoptic segmentation of one image, SAM style.

    ``set_image`` runs the backbone and neck once; ``predict`` decodes any
    number of prompts on the cached features, ``panoptic`` the object
    queries. The first ``predict`` of an image attends to the features
    directly (:meth:`PromptAdapter.attend_pixels`, no pixel projected);
    the second computes and caches the prompt adapter's pixel keys and
    values (:meth:`PromptAdapter.pixel_kv`), so that re-prompting the
    image runs only the query side of the decoder (1024x1024, 10 clicks,
    bf16: first prompt 24 ms of attention instead of 69, re-prompts 6),
    and packs them and the features for oneDNN on CPUs
    (:class:`PackedPixelKV`, :class:`PixelFeatures`: each decoder layer's
    products with the map 3-7x faster). The two give the same masks up to
    float rounding.

    Args:
        model (nn.Module): A :class:`RapSAM` model in eval mode.
        scale (tuple[int, int]): Longest and shortest side the image is
            resized to, keeping its ratio. Defaults to (1333, 800).
        cache_prompt_kv (bool): Cache the pixel keys and values from the
            second ``predict`` of an image on (2 x 256 floats per stride-4
            pixel, 137 MB at 1344x800 in fp32). Defaults to True.
        precision (str): 'fp32', 'bf16' / 'fp16' autocast, or 'int8' (the
            backbone as an int8 ONNX Runtime graph and the decoder's
            products with the map as int8 GEMMs, :func:`quantize_model`;
            the rest bf16 where it runs faster than fp32, else fp32); see
            :func:`resolve_precision` for the fallbacks to fp32. In bf16 the
            cached features and pixel keys / values are bf16 too. Defaults
            to 'fp32'.
        calibration_images (Sequence, optional): For 'int8': a handful of
            images (paths or RGB arrays) like those to come, which set the
            quantization ranges. ``model`` is quantized in place
            (:func:`quantize_model`; a quantized backbone is kept).
        channels_last (bool, optional): Run the convolutions in NHWC
            (``model`` is converted in place). Defaults to True on the CPU,
            where oneDNN's NHWC kernels are faster (streaming 640x360
            video, R18, 2 cores: bf16 9.2 -> 11-12 FPS, fp32 7.4 -> 8.4 FPS
            with the same masks, mean IoU 0.99999), and False elsewhere.

    In a precision that runs under autocast (bf16, fp16, and int8's rest
    where it is bf16), the model's linear and convolution layers keep the
    casts of their weights that autocast makes, from one call to the next
    (:func:`keep_autocast_weights`: the same results, bit for bit).
    """

    def __init__(self,
                 model: torch.nn.Module,
                 scale: Tuple[int, int] = (1333, 800),
                 cache_prompt_kv: bool = True,
                 precision: str = 'fp32',
                 calibration_images: Optional[Sequence[ImageLike]] = None,
                 channels_last: Optional[bool] = None) -> None:
        self.model = model
        self.scale = scale
        self.cache_prompt_kv = cache_prompt_kv
        self.precision = resolve_precision(precision, str(self.device))
        if self.precision == 'int8' and not isinstance(
                model.backbone, Int8Backbone):
            if not calibration_images:
                raise ValueError(
                    "precision 'int8' needs calibration_images: a handful "
                    'of images like those to come')
            quantize_model(model, [
                prepare_image(model, to_rgb_uint8(image), scale)[0]
                for image in calibration_images
            ])
        if channels_last is None:
            channels_last = self.device.type == 'cpu'
        self.channels_last = channels_last
        if channels_last:
            model.to(memory_format=torch.channels_last)
        if precision_dtype(self.precision) != torch.float32:
            keep_autocast_weights(model)
        self._prompt_kv: Optional[Union[Tuple[Tensor, Tensor],
                                        PackedPixelKV]] = None
        self._pixels: Optional[PixelFeatures] = None
        self._prompted = False
        self._meta: Dict = {}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def set_image(self, image: ImageLike) -> None:
        """Compute and cache the features of an image.

        Args:
            image (str | np.ndarray): A path, or an (H, W[, 3|4]) RGB array.
        """
        inputs, self._meta = prepare_image(self.model, to_rgb_uint8(image),
                                           self.scale)
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with autocast(self.precision, str(self.device)):
            features = self.model.extract_feat(inputs)[0]
        # Kept as the decoder reads it on every prompt: in its precision,
        # with the products' kernel of one pass (packed at the first
        # re-prompt unless int8, see predict).
        features = features.to(precision_dtype(self.precision))
        self._pixels = decoder_features(features,
                                        self.model.panoptic_head.pixel_kernel)
        self._prompt_kv = None
        self._prompted = False

    @property
    def features(self) -> Optional[Tensor]:
        """(1, C, H, W) stride-4 features of the image set last, in the
        predictor's precision; None before :meth:`set_image`. (The decoder
        reads the neck's factored map, :attr:`pixels`; this computes the
        map on first use.)"""
        return None if self._pixels is None else self._pixels.tensor

    @property
    def pixels(self) -> PixelFeatures:
        """The cached map as the decoder takes it (:attr:`features` with
        its :class:`PixelFeatures` kernel: packed for oneDNN from the first
        re-prompt on where it can be)."""
        return self._pixels

    def _sample(self) -> DetDataSample:
        if self._pixels is None:
            raise RuntimeError('call set_image() before predicting')
        return DetDataSample(metainfo=self._meta)

    @torch.no_grad()
    def predict(self,
                points: Optional[Union[np.ndarray, Sequence]] = None,
                point_labels: Optional[Union[np.ndarray, Sequence]] = None,
                boxes: Optional[Union[np.ndarray, Sequence]] = None
                ) -> Dict[str, np.ndarray]:
        """Segment prompts on the cached image.

        Args:
            points: Clicks in original-image pixels, (K, 2) for one prompt
                or (P, K, 2) for P prompts.
            point_labels: (K,) or (P, K): 1 positive, 0 negative. Defaults
                to all positive.
            boxes: (4,) or (P, 4) boxes (x1, y1, x2, y2) in original-image
                pixels; with points, box i and the clicks of prompt i form
                one prompt.

        Returns:
            dict[str, np.ndarray]: ``masks`` (P, H, W) bool and
            ``iou_scores`` (P,). Zero prompts give empty arrays.
        """
        sample = self._sample()
        prompts = self._prompts(points, point_labels, boxes)
        h0, w0 = self._meta['ori_shape']
        if len(prompts) == 0:
            return dict(
                masks=np.zeros((0, h0, w0), bool),
                iou_scores=np.zeros((0, ), np.float32))
        sample.prompt_instances = prompts
        with autocast(self.precision, str(self.device)):
            if self._prompt_kv is None and self._prompted and \
                    self.cache_prompt_kv:
                pack = onednn_packing_available(self._pixels.basis)
                kv = self.model.panoptic_head.prompt_adapter.pixel_kv(
                    self._pixels)
                self._prompt_kv = PackedPixelKV(*kv) if pack else kv
                if pack and self._pixels.kernel != 'int8':
                    self._pixels = self._pixels.with_kernel('packed')
            prompt_kv = self._prompt_kv
            self._prompted = True
            result = self.model.predict_from_feats(
                (self.pixels, ), [sample],
                with_objects=False,
                prompt_kv=prompt_kv)[0].pred_prompt_instances
        return dict(masks=result.masks.cpu().numpy(),
                    iou_scores=result.iou_scores.float().cpu().numpy())

    def _prompts(self, points, point_labels, boxes) -> InstanceData:
        sx, sy = self._meta.get('scale_factor', (1., 1.))
        prompts = InstanceData()
        if points is not None:
            pts = torch.as_tensor(np.asarray(points, np.float32))
            if pts.dim() == 2:
                pts = pts[None]
            if pts.dim() != 3 or pts.shape[-1] != 2:
                raise ValueError('points must have shape (K, 2) or (P, K, 2),'
                                 f' got {tuple(pts.shape)}')
            if point_labels is None:
                labels = torch.ones(pts.shape[:2], dtype=torch.long)
            else:
                labels = torch.as_tensor(click_labels(point_labels))
                labels = labels.reshape(pts.shape[:2]) if \
                    labels.numel() == pts.shape[0] * pts.shape[1] else labels
                if labels.shape != pts.shape[:2]:
                    raise ValueError(
                        'point_labels must match points: expected shape '
                        f'{tuple(pts.shape[:2])}, got {tuple(labels.shape)}')
            self._check_inside(pts.reshape(-1, 2), 'points')
            prompts.points = pts * pts.new_tensor([sx, sy])
            prompts.point_labels = labels
        if boxes is not None:
            bxs = torch.as_tensor(np.asarray(boxes, np.float32))
            if bxs.dim() == 1:
                bxs = bxs[None]
            if bxs.dim() != 2 or bxs.shape[-1] != 4:
                raise ValueError('boxes must have shape (4,) or (P, 4), got '
                                 f'{tuple(bxs.shape)}')
            if points is not None and len(bxs) != len(prompts.points):
                raise ValueError(f'{len(bxs)} boxes but {len(prompts.points)}'
                                 ' point prompts')
            self._check_inside(bxs.reshape(-1, 2), 'boxes')
            prompts.boxes = bxs * bxs.new_tensor([sx, sy, sx, sy])
        return prompts

    def _check_inside(self, xy: Tensor, name: str) -> None:
        h, w = self._meta['ori_shape']
        outside = (xy[:, 0] < 0) | (xy[:, 0] > w) | (xy[:, 1] < 0) | (
            xy[:, 1] > h) | ~torch.isfinite(xy).all(-1)
        if outside.any():
            raise ValueError(f'{name}: {xy[outside][0].tolist()} lies outside'
                             f' the image (width {w}, height {h})')

    @torch.no_grad()
    def panoptic(self) -> Dict[str, np.ndarray]:
        """Panoptic segmentation of the cached image.

        Returns:
            dict[str, np.ndarray]: ``panoptic_seg`` (H, W) int: mmdet's
            encoding ``label + instance_id * INSTANCE_OFFSET``, with
            ``num_classes`` for void.
        """
        with autocast(self.precision, str(self.device)):
            # the map only: no instance results (about 50 full-size masks)
            sample = self.model.predict_from_feats(
                (self.pixels, ), [self._sample()],
                with_objects=True, instance_on=False)[0]
        return dict(
            panoptic_seg=sample.pred_panoptic_seg.sem_seg[0].cpu().numpy())
