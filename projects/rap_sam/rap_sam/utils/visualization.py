"""Drawing masks over images (numpy + OpenCV, no display needed)."""
from typing import Optional, Sequence

import cv2
import numpy as np

from mmdet.evaluation.functional import INSTANCE_OFFSET


def colour_of(index: int) -> np.ndarray:
    """A stable, well-spread RGB colour for an id."""
    hue = (index * 0.618033988749895) % 1.0
    hsv = np.uint8([[[int(hue * 179), 200, 255]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def overlay_masks(image: np.ndarray,
                  masks: np.ndarray,
                  alpha: float = 0.5,
                  points: Optional[np.ndarray] = None,
                  point_labels: Optional[np.ndarray] = None,
                  boxes: Optional[np.ndarray] = None,
                  ids: Optional[Sequence[int]] = None) -> np.ndarray:
    """Blend binary masks (N, H, W) into an RGB image, with the prompts.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB.
    """
    out = image.astype(np.float32)
    for i, mask in enumerate(masks):
        mask = np.ascontiguousarray(mask, dtype=bool).view(np.uint8)
        x, y, w, h = cv2.boundingRect(mask)
        if w == 0:
            continue
        # Blend within the mask's box, with OpenCV's single-pass kernels:
        # numpy's where() over float temporaries took 3-4 ms per large
        # mask at 854x480.
        region = out[y:y + h, x:x + w]
        colour = colour_of(ids[i] if ids is not None else i + 1)
        shade = tuple(float(c) for c in np.float32(alpha) * colour)
        blended = cv2.addWeighted(region, 1 - alpha, region, 0, 0)
        blended = cv2.add(blended, shade + (0, ))
        cv2.copyTo(blended, mask[y:y + h, x:x + w], region)
    out = out.astype(np.uint8)
    for i, (x, y) in enumerate(np.asarray(points if points is not None
                                          else []).reshape(-1, 2)):
        positive = point_labels is None or np.ravel(point_labels)[i] > 0
        colour = (0, 255, 0) if positive else (255, 0, 0)
        cv2.circle(out, (int(x), int(y)), 8, colour, -1)
        cv2.circle(out, (int(x), int(y)), 8, (255, 255, 255), 2)
    for x1, y1, x2, y2 in np.asarray(boxes if boxes is not None
                                     else []).reshape(-1, 4):
        cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)),
                      (0, 255, 0), 3)
    return out


def overlay_panoptic(image: np.ndarray, panoptic_seg: np.ndarray,
                     num_classes: int, alpha: float = 0.6) -> np.ndarray:
    """Colour each segment of an mmdet panoptic map (void left as is)."""
    ids = [i for i in np.unique(panoptic_seg) if i % INSTANCE_OFFSET !=
           num_classes]
    masks = np.stack([panoptic_seg == i for i in ids]) if ids else \
        np.zeros((0, ) + panoptic_seg.shape, bool)
    out = overlay_masks(image, masks, alpha, ids=[int(i) for i in ids])
    for i, mask in zip(ids, masks):
        contours, _ = cv2.findContours(mask.astype(np.uint8),
                                       cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (255, 255, 255), 1)
    return out
