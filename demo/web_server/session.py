"""The images behind the web page: upload checks, the predictor's cached
features per image, and masks encoded as PNG (see :mod:`.app`)."""
import io
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any, Dict, Optional, Tuple

import cv2
import numpy as np

from mmdet.evaluation.functional import INSTANCE_OFFSET
from rap_sam.inference import RapSAMPredictor, to_rgb_uint8
from rap_sam.utils.visualization import colour_of


class ApiError(Exception):
    """An error answered as JSON ``{"error": message}``.

    Args:
        status (int): HTTP status code.
        message (str): What went wrong, for a person.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def sniff_image_type(data: bytes) -> Optional[str]:
    """The image type from the first bytes of a file.

    Returns:
        str, optional: ``'png'``, ``'jpeg'``, ``'webp'`` or None.
    """
    if data.startswith(b'\x89PNG\r\n\x1a\n'):
        return 'png'
    if data.startswith(b'\xff\xd8\xff'):
        return 'jpeg'
    if len(data) >= 12 and data[:4] == b'RIFF' and data[8:12] == b'WEBP':
        return 'webp'
    return None


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Check and decode an uploaded PNG, JPEG or WebP file.

    The size is read from the header before any pixel is decoded, and the
    EXIF orientation is applied, as browsers do.

    Args:
        data (bytes): The file content.
        max_pixels (int): Largest width * height accepted.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB.

    Raises:
        ApiError: 415 for content that is not a PNG, JPEG or WebP file,
            400 for a broken one, 422 for one of more than ``max_pixels``.
    """
    from PIL import Image, ImageOps
    kind = sniff_image_type(data)
    if kind is None:
        raise ApiError(415, 'unsupported file type: the content is not a '
                       'PNG, JPEG or WebP image')
    try:
        with Image.open(io.BytesIO(data), formats=[kind.upper()]) as img:
            width, height = img.size
            if width < 1 or height < 1 or width * height > max_pixels:
                raise ApiError(
                    422, f'image is {width}x{height} pixels; at most '
                    f'{max_pixels} pixels are accepted')
            rgb = ImageOps.exif_transpose(img).convert('RGB')
            return to_rgb_uint8(np.asarray(rgb))
    except ApiError:
        raise
    except Exception as exc:  # PIL raises many types on broken files
        raise ApiError(400, f'could not decode the {kind.upper()} image: '
                       f'{exc}') from exc


def encode_png(image: np.ndarray) -> bytes:
    """(H, W) grey or (H, W, 4) RGBA uint8 -> PNG bytes (fast)."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode('.png', image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError('PNG encoding failed')
    return buf.tobytes()


def _edges(ids: np.ndarray) -> np.ndarray:
    """Pixels whose right or lower neighbour has another id."""
    edge = np.zeros(ids.shape, bool)
    horizontal = ids[:, 1:] != ids[:, :-1]
    vertical = ids[1:] != ids[:-1]
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    edge[1:] |= vertical
    edge[:-1] |= vertical
    return edge


def masks_to_labels(masks: np.ndarray) -> np.ndarray:
    """Binary masks (N, H, W) -> (H, W) uint8: 1 + the index of the last
    mask covering a pixel, 0 where none does (N < 256)."""
    labels = np.zeros(masks.shape[1:], np.uint8)
    for i, mask in enumerate(masks):
        labels[mask] = i + 1
    return labels


def panoptic_to_rgba(panoptic_seg: np.ndarray, num_classes: int,
                     alpha: float = 0.55) -> np.ndarray:
    """Colour an mmdet panoptic map (H, W) on a transparent layer, void
    left clear and segments outlined in white."""
    ids, inverse = np.unique(panoptic_seg, return_inverse=True)
    palette = np.zeros((len(ids), 4), np.uint8)
    for i, segment in enumerate(ids):
        if segment % INSTANCE_OFFSET != num_classes:
            palette[i, :3] = colour_of(int(segment))
            palette[i, 3] = round(alpha * 255)
    inverse = inverse.reshape(panoptic_seg.shape)
    out = palette[inverse]
    out[_edges(inverse) & (out[..., 3] > 0)] = (255, 255, 255, 255)
    return out


class _Entry:
    """An uploaded image and what was computed from it."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self.panoptic_png: Optional[bytes] = None
        self.panoptic_ms = 0.


class ImageSession:
    """The images of a page and the one predictor that segments them.

    The predictor holds the features of one image; they are computed once
    per upload and reused by every prompt on it (recomputed only when a
    prompt returns to an older image). Thread safe.

    Args:
        predictor (RapSAMPredictor): The predictor.
        max_images (int): Images kept (least recently used dropped).
    """

    def __init__(self, predictor: RapSAMPredictor,
                 max_images: int = 4) -> None:
        self.predictor = predictor
        self.max_images = max_images
        self.lock = threading.Lock()
        self.entries: 'OrderedDict[str, _Entry]' = OrderedDict()
        self.active_id: Optional[str] = None

    def add(self, image: np.ndarray) -> Tuple[str, float]:
        """Store an image and compute its features.

        Returns:
            tuple[str, float]: The image id and the set_image time (ms).
        """
        image_id = uuid.uuid4().hex
        with self.lock:
            start = time.perf_counter()
            try:
                self.predictor.set_image(image)
            except ValueError as exc:
                self.active_id = None  # the predictor's image is undefined
                raise ApiError(422, str(exc)) from exc
            elapsed = (time.perf_counter() - start) * 1000
            self.active_id = image_id
            self.entries[image_id] = _Entry(image)
            while len(self.entries) > self.max_images:
                self.entries.popitem(last=False)
        return image_id, elapsed

    def get(self, image_id: str) -> _Entry:
        """The entry of an image; ApiError 404 when it is unknown."""
        entry = self.entries.get(image_id)
        if entry is None:
            raise ApiError(404, f'unknown image_id {image_id!r}: upload the '
                           'image again')
        return entry

    def _activate(self, image_id: str) -> _Entry:
        entry = self.get(image_id)
        self.entries.move_to_end(image_id)
        if self.active_id != image_id:
            self.predictor.set_image(entry.image)
            self.active_id = image_id
        return entry

    def predict(self, image_id: str, **prompts: Any
                ) -> Tuple[Dict[str, np.ndarray], float]:
        """Masks of prompts on an image and the predict time (ms)."""
        with self.lock:
            self._activate(image_id)
            start = time.perf_counter()
            result = self.predictor.predict(**prompts)
            return result, (time.perf_counter() - start) * 1000

    def panoptic_png(self, image_id: str) -> Tuple[bytes, float]:
        """The panoptic overlay PNG (computed once) and its time (ms)."""
        with self.lock:
            entry = self.get(image_id)
            if entry.panoptic_png is None:
                self._activate(image_id)
                start = time.perf_counter()
                seg = self.predictor.panoptic()['panoptic_seg']
                entry.panoptic_ms = (time.perf_counter() - start) * 1000
                num_classes = \
                    self.predictor.model.panoptic_fusion_head.num_classes
                entry.panoptic_png = encode_png(
                    panoptic_to_rgba(seg, num_classes))
            return entry.panoptic_png, entry.panoptic_ms
