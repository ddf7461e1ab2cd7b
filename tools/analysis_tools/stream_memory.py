"""Memory of streaming video segmentation over a long sequence.

Runs ``rap_sam.inference.VideoPredictor`` frame by frame over a folder of
frames (an object prompted by a box on the first frame, the rest found by
the object queries) and prints, every ``--every`` frames, the process's
resident memory (RSS) and the size of the predictor's state (the query
linker's slot embeddings, the ids given to slots and the state of each
prompted object). Both should stay flat: nothing grows with the video.

Example (DAVIS cows, 104 frames, at a small scale, random weights)::

    python tools/analysis_tools/stream_memory.py \\
        configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py \\
        ../shared/data/davis2016/JPEGImages/480p/cows \\
        --mask-dir ../shared/data/davis2016/Annotations/480p/cows \\
        --random-weights --scale 320 192 --num-frames 100
"""
import argparse
import gc
import os
import os.path as osp
import resource
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from PIL import Image

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png')


def rss_mb() -> float:
    """Current resident set size of this process, in MiB.

    Read from ``/proc/self/statm`` (Linux); elsewhere the peak RSS
    (``getrusage``), an upper bound.
    """
    try:
        with open('/proc/self/statm') as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf('SC_PAGE_SIZE') / 2**20
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**10  # KiB on Linux


def nbytes(obj) -> int:
    """Bytes of the arrays and tensors in a (nested) container; 8 per
    other scalar or key."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, dict):
        return sum(nbytes(k) + nbytes(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set)):
        return sum(nbytes(v) for v in obj)
    if obj is None:
        return 0
    if hasattr(obj, '__dict__') and not isinstance(obj, torch.nn.Module):
        return nbytes(vars(obj))
    return 8


def state_nbytes(predictor) -> Dict[str, int]:
    """Bytes a ``VideoPredictor`` carries from frame to frame.

    Every attribute but the model (``model``) and the current frame's image
    predictor (``image``, replaced by each frame): the video's track state
    (slot embeddings and class probabilities), the slot -> id table and the
    state of each prompted object.

    Returns:
        dict[str, int]: Bytes per attribute and ``total``.
    """
    sizes = {
        name: nbytes(value)
        for name, value in vars(predictor).items()
        if name not in ('image', 'model')
    }
    sizes['total'] = sum(sizes.values())
    return sizes


def list_frames(folder: str, num_frames: Optional[int] = None) -> List[str]:
    """The first ``num_frames`` frame files of a folder, sorted."""
    frames = sorted(f for f in os.listdir(folder)
                    if f.lower().endswith(IMAGE_SUFFIXES))
    if not frames:
        raise SystemExit(f'{folder}: no frames')
    return [osp.join(folder, f) for f in frames[:num_frames]]


def mask_box(mask_file: str) -> List[float]:
    """Tight box ``(x1, y1, x2, y2)`` of a binary / palette mask PNG."""
    mask = np.array(Image.open(mask_file))
    if mask.ndim == 3:
        mask = mask[..., :3].max(-1)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise SystemExit(f'{mask_file}: empty mask')
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1),
            float(ys.max() + 1)]


def stream(predictor,
           frames: Sequence[str],
           box: Optional[Sequence[float]] = None,
           every: int = 10,
           log=print) -> List[Dict[str, float]]:
    """Segment the frames one by one; measure every ``every`` frames.

    Args:
        predictor (VideoPredictor): A fresh predictor.
        frames (Sequence[str | np.ndarray]): Frame files (or RGB arrays)
            in order.
        box (Sequence[float], optional): Box prompt on the first frame.
        every (int): Measure after every this many frames.
        log (Callable): Called with a line per measurement.

    Returns:
        list[dict]: Per measurement ``frame`` (frames done), ``rss_mb``,
        ``state_bytes``, ``objects`` (on the last frame) and
        ``s_per_frame`` (mean over the last ``every`` frames).
    """
    records = []
    start = time.perf_counter()
    for t, frame in enumerate(frames, 1):
        if not isinstance(frame, np.ndarray):
            frame = np.array(Image.open(frame).convert('RGB'))
        out = predictor.step(
            frame, boxes=[box] if box is not None and t == 1 else None)
        if t % every == 0 or t == len(frames):
            gc.collect()
            now = time.perf_counter()
            record = dict(
                frame=t,
                rss_mb=rss_mb(),
                state_bytes=state_nbytes(predictor)['total'],
                objects=len(out['ids']),
                s_per_frame=(now - start) / (t - (records[-1]['frame']
                                                  if records else 0)))
            start = now
            records.append(record)
            log(f'frame {t:4d}  RSS {record["rss_mb"]:8.1f} MiB  state '
                f'{record["state_bytes"]:8d} B  objects '
                f'{record["objects"]:3d}  {record["s_per_frame"]:.3f} '
                's/frame')
    return records


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config')
    parser.add_argument('frames', help='folder of the video frames')
    parser.add_argument('--checkpoint', help='model checkpoint')
    parser.add_argument(
        '--random-weights', action='store_true',
        help='random weights and class embeddings (memory does not '
        'depend on the weights)')
    parser.add_argument(
        '--mask-dir', help='mask PNGs of the frames: the first one gives '
        'the box prompt of the first frame')
    parser.add_argument('--num-frames', type=int, default=100,
                        help='frames to run (default 100)')
    parser.add_argument('--scale', type=int, nargs=2, default=[1280, 736],
                        metavar=('LONG', 'SHORT'), help='resize scale')
    parser.add_argument('--every', type=int, default=10)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--json', help='write the measurements here')
    args = parser.parse_args(argv)
    if args.checkpoint is None and not args.random_weights:
        parser.error('give --checkpoint or --random-weights')
    return args


def main(argv: Optional[Sequence[str]] = None) -> List[Dict[str, float]]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from rap_sam.inference import VideoPredictor, build_model
    model = build_model(args.config, args.checkpoint, args.device,
                        random_weights=args.random_weights)
    predictor = VideoPredictor(model, scale=tuple(args.scale))
    frames = list_frames(args.frames, args.num_frames)
    box = None
    if args.mask_dir:
        stem = osp.splitext(osp.basename(frames[0]))[0]
        box = mask_box(osp.join(args.mask_dir, f'{stem}.png'))
    print(f'{len(frames)} frames of {args.frames} at scale {args.scale}, '
          f'box prompt {box} on frame 1')
    records = stream(predictor, frames, box, args.every)
    if args.json:
        from rap_sam.datasets.converters import dump_json_atomic
        dump_json_atomic(records, args.json)
    return records


if __name__ == '__main__':
    main()
