"""Video object segmentation folders (DAVIS, Cutie) to YouTube-VIS 2019.

Input layout, one folder per sequence under an image root and a mask
root::

    image_root/<sequence>/<frame>.jpg
    mask_root/<sequence>/<frame>.png

Two kinds of mask PNG are read:

- binary (DAVIS-2016): a grey or RGB PNG, 0 background and 255 the one
  object of the sequence (object id 1); pixels > 127 are foreground;
- palette (DAVIS-2017, Cutie examples): a ``P`` mode PNG whose indices
  are object ids, 0 background and 255 void (read as background).

Masks may exist for some frames only (Cutie gives one on the frame where
each object first appears): the other frames get ``None`` for every
object. A mask whose size differs from its frame (Cutie's judo frame 5 is
853 px wide for an 854-px frame) is cropped or zero-padded at the right
and bottom to the frame size, with a warning naming the file.

Images are referenced by their path relative to ``relative_to`` (the image
root by default), never copied.
"""
import os
import os.path as osp
import warnings
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ..class_names import YTVIS2019, Vocabulary
from .ytvis_format import (resolve_category, track_record, video_record,
                           ytvis_categories, ytvis_dataset)

# Categories of the DAVIS-2016 sample sequences in ../shared/data (the
# rider of scooter-black is not in its mask).
DAVIS_SAMPLE_CATEGORIES = {
    'car-shadow': 'car',
    'dog': 'dog',
    'cows': 'cow',
    'scooter-black': 'motorbike',
}

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png')
VOID_INDEX = 255


def read_object_mask(path: str, mode: str = 'auto') -> np.ndarray:
    """Read a mask PNG as an object-id map.

    Args:
        path (str): The PNG.
        mode (str): ``'binary'`` (> 127 is object 1), ``'palette'``
            (indices are object ids, 255 is void) or ``'auto'``: palette
            for ``P`` mode PNGs, binary otherwise. Defaults to 'auto'.

    Returns:
        np.ndarray: (H, W) uint8 object ids, 0 for background and void.

    Raises:
        ValueError: If the file cannot be read as an image, naming it.
    """
    if mode not in ('auto', 'binary', 'palette'):
        raise ValueError(f'unknown mask mode {mode!r}')
    try:
        with Image.open(path) as img:
            img_mode = img.mode
            arr = np.array(img)
    except (OSError, ValueError) as e:
        raise ValueError(f'{path}: cannot read the mask: {e}') from e
    if mode == 'auto':
        mode = 'palette' if img_mode == 'P' else 'binary'
    if mode == 'palette':
        if arr.ndim != 2:
            raise ValueError(f'{path}: a palette mask must have one channel '
                             f'(got mode {img_mode})')
        ids = arr.astype(np.uint8)
        ids[ids == VOID_INDEX] = 0
        return ids
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=-1)
    return (arr > 127).astype(np.uint8)


def fit_to_frame(mask: np.ndarray, height: int, width: int,
                 path: str = '') -> np.ndarray:
    """Crop or zero-pad a mask at the right / bottom to the frame size.

    Args:
        mask (np.ndarray): (h, w) mask.
        height (int): Frame height.
        width (int): Frame width.
        path (str): The mask file, named in the warning.

    Returns:
        np.ndarray: (height, width) mask; ``mask`` itself if it fits.
    """
    h, w = mask.shape
    if (h, w) == (height, width):
        return mask
    warnings.warn(f'{path}: mask is {w}x{h} but its frame is '
                  f'{width}x{height}; cropped / zero-padded at the right and '
                  'bottom to the frame size')
    out = np.zeros((height, width), mask.dtype)
    out[:min(h, height), :min(w, width)] = mask[:height, :width]
    return out


def list_frames(folder: str) -> List[str]:
    """Sorted image file names of one sequence folder."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{folder}: sequence folder not found')
    frames = sorted(f for f in os.listdir(folder)
                    if f.lower().endswith(IMAGE_SUFFIXES))
    if not frames:
        raise FileNotFoundError(f'{folder}: no frames ({IMAGE_SUFFIXES})')
    return frames


def select_frames(frames: Sequence[str], frame_step: int = 1,
                  max_frames: Optional[int] = None) -> List[str]:
    """Every ``frame_step``-th frame from the first, at most ``max_frames``.

    Args:
        frames (Sequence[str]): All frames, in order.
        frame_step (int): Keep one frame in ``frame_step``. Defaults to 1.
        max_frames (int, optional): Keep at most this many. Defaults to
            None (all).

    Returns:
        list[str]: The kept frames.
    """
    if frame_step < 1:
        raise ValueError(f'frame_step must be >= 1, got {frame_step}')
    if max_frames is not None and max_frames < 1:
        raise ValueError(f'max_frames must be >= 1, got {max_frames}')
    return list(frames[::frame_step][:max_frames])


def _frame_size(folder: str, frames: Sequence[str]) -> Tuple[int, int]:
    """(height, width) shared by all frames; raise naming a frame that
    differs."""
    size = None
    for frame in frames:
        path = osp.join(folder, frame)
        try:
            with Image.open(path) as img:
                w, h = img.size
        except (OSError, ValueError) as e:
            raise ValueError(f'{path}: cannot read the frame: {e}') from e
        if size is None:
            size = (h, w)
        elif size != (h, w):
            raise ValueError(f'{path}: frame is {w}x{h}, the first frame '
                             f'of the sequence is {size[1]}x{size[0]}')
    return size


def _category_of(sequence: str, obj_id: int, categories: Mapping[str, str],
                 default_category: Optional[str]) -> str:
    for key in (f'{sequence}/{obj_id}', sequence):
        if key in categories:
            return categories[key]
    if default_category is None:
        raise ValueError(
            f'no category for object {obj_id} of sequence {sequence!r}: '
            f'give {sequence!r} or "{sequence}/{obj_id}" in categories, or '
            'a default category')
    return default_category


def convert_sequence(image_dir: str,
                     mask_dir: str,
                     frame_step: int = 1,
                     max_frames: Optional[int] = None,
                     mask_mode: str = 'auto'
                     ) -> Tuple[List[str], Tuple[int, int],
                                Dict[int, List[Optional[np.ndarray]]]]:
    """Read one sequence: its kept frames and per-object masks.

    Args:
        image_dir (str): Folder of the sequence's frames.
        mask_dir (str): Folder of its mask PNGs (same stems as frames).
        frame_step (int): Keep one frame in ``frame_step``.
        max_frames (int, optional): Keep at most this many frames.
        mask_mode (str): See :func:`read_object_mask`.

    Returns:
        tuple: Kept frame names, (height, width), and per object id the
        list of (H, W) bool masks per kept frame (None where the frame has
        no mask file or the object is absent from it).
    """
    all_frames = list_frames(image_dir)
    if not osp.isdir(mask_dir):
        raise FileNotFoundError(f'{mask_dir}: mask folder not found')
    stems = {osp.splitext(f)[0] for f in all_frames}
    mask_files = {}
    for name in sorted(os.listdir(mask_dir)):
        stem, ext = osp.splitext(name)
        if ext.lower() != '.png':
            continue
        if stem not in stems:
            raise ValueError(f'{osp.join(mask_dir, name)}: no frame '
                             f'{stem}.* in {image_dir}')
        mask_files[stem] = osp.join(mask_dir, name)
    frames = select_frames(all_frames, frame_step, max_frames)
    height, width = _frame_size(image_dir, frames)
    tracks: Dict[int, List[Optional[np.ndarray]]] = {}
    for t, frame in enumerate(frames):
        path = mask_files.get(osp.splitext(frame)[0])
        if path is None:
            continue
        ids = fit_to_frame(read_object_mask(path, mask_mode), height, width,
                           path)
        for obj_id in np.unique(ids):
            if obj_id == 0:
                continue
            track = tracks.setdefault(int(obj_id), [None] * len(frames))
            track[t] = ids == obj_id
    return frames, (height, width), dict(sorted(tracks.items()))


def convert_video_folders(image_root: str,
                          mask_root: str,
                          categories: Mapping[str, str],
                          sequences: Optional[Sequence[str]] = None,
                          default_category: Optional[str] = None,
                          frame_step: int = 1,
                          max_frames: Optional[int] = None,
                          mask_mode: str = 'auto',
                          relative_to: Optional[str] = None,
                          vocab: Vocabulary = YTVIS2019) -> dict:
    """Convert sequence folders to one YouTube-VIS 2019 annotation dict.

    Args:
        image_root (str): Folder of the sequence folders of frames.
        mask_root (str): Folder of the sequence folders of mask PNGs.
        categories (Mapping[str, str]): Category name per sequence
            (``'dog'``) or per object (``'judo/2'``; wins over the
            sequence's). A name is a class of ``vocab`` or a synonym
            (``'car'`` gives YouTube-VIS's ``'sedan'``).
        sequences (Sequence[str], optional): Sequences to convert, in this
            order (video ids 1, 2, ...). Defaults to all folders of
            ``mask_root``, sorted.
        default_category (str, optional): Category of objects that
            ``categories`` does not name. Defaults to None: such an object
            is an error.
        frame_step (int): Keep one frame in ``frame_step``. Defaults to 1.
        max_frames (int, optional): Keep at most this many frames per
            video. Defaults to None (all).
        mask_mode (str): ``'auto'``, ``'binary'`` or ``'palette'``, see
            :func:`read_object_mask`. Defaults to 'auto'.
        relative_to (str, optional): Folder that ``file_names`` are
            relative to. Defaults to ``image_root``.
        vocab (Vocabulary): Label set of the output. Defaults to
            YouTube-VIS 2019.

    Returns:
        dict: The YouTube-VIS annotation dict. Objects that appear on no
        kept frame get no annotation.
    """
    if sequences is None:
        if not osp.isdir(mask_root):
            raise FileNotFoundError(f'{mask_root}: mask root not found')
        sequences = sorted(d for d in os.listdir(mask_root)
                           if osp.isdir(osp.join(mask_root, d)))
    relative_to = image_root if relative_to is None else relative_to
    videos, annotations = [], []
    for video_id, seq in enumerate(sequences, start=1):
        image_dir = osp.join(image_root, seq)
        frames, (h, w), tracks = convert_sequence(image_dir,
                                                  osp.join(mask_root, seq),
                                                  frame_step, max_frames,
                                                  mask_mode)
        file_names = [
            osp.relpath(osp.join(image_dir, f), relative_to).replace(
                os.sep, '/') for f in frames
        ]
        videos.append(video_record(video_id, file_names, w, h))
        for obj_id, masks in tracks.items():
            name = _category_of(seq, obj_id, categories, default_category)
            annotations.append(
                track_record(
                    len(annotations) + 1, video_id,
                    resolve_category(name, vocab), masks, w, h))
    return ytvis_dataset(
        videos, annotations, ytvis_categories(vocab),
        description='converted from video object segmentation folders')
