"""Tracked instances of a video, with prompts, to MP4, GIF and a PNG strip.

The video (a file that ffmpeg reads, or a folder of frames) is segmented
frame by frame with :class:`VideoPredictor`: object queries above
``--score-thr`` and objects prompted on any frame (clicks, boxes, or the
masks of a semi-supervised VOS annotation) keep one id, and one colour, for
the whole video.

Example::

    python demo/video_demo.py ../shared/data/davis2016/JPEGImages/480p/dog \
        configs/rap_sam/rap-sam_r50_8xb2-12e_coco-panoptic.py \
        --checkpoint rapsam_r50.pth --scale 640,360 --prompt 0:420,230
    python demo/video_demo.py ../shared/data/cutie_examples/images/judo \
        configs/rap_sam/rap-sam_r50_8xb2-12e_coco-panoptic.py \
        --checkpoint rapsam_r50.pth \
        --init-masks ../shared/data/cutie_examples/masks/judo --score-thr 1
"""
import argparse
import itertools
import os
import os.path as osp
import time
import warnings
from collections import defaultdict
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import imageio.v2 as imageio
import mmcv
import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from rap_sam.inference import (PRECISIONS, VideoPredictor, build_model,
                               image_files, keep_freed_memory, to_rgb_uint8)
from rap_sam.inference.image_io import IMAGE_EXTENSIONS
from rap_sam.utils import write_image_atomic
from rap_sam.utils.mask_geometry import first_click
from rap_sam.utils.visualization import colour_of, overlay_masks


Frames = Iterator[Tuple[str, np.ndarray]]


class Prompt:
    """One object to add on one frame: a click, a box, or both.

    Args:
        frame (int): Index of the frame (0-based) it is given on.
        point (Sequence[float], optional): Click (x, y).
        box (Sequence[float], optional): Box (x1, y1, x2, y2).
        source (str): Where it comes from, for the log.
    """

    def __init__(self,
                 frame: int,
                 point: Optional[Sequence[float]] = None,
                 box: Optional[Sequence[float]] = None,
                 source: str = '') -> None:
        self.frame = frame
        self.point = None if point is None else [float(v) for v in point]
        self.box = None if box is None else [float(v) for v in box]
        self.source = source
        self.track_id: Optional[int] = None


def parse_prompt(text: str, count: int, name: str) -> Prompt:
    """``FRAME:v1,v2,...`` with ``count`` numbers, as a :class:`Prompt`."""
    try:
        frame, values = text.split(':')
        numbers = [float(v) for v in values.split(',')]
        frame = int(frame)
    except ValueError:
        numbers, frame = [], -1
    if len(numbers) != count or frame < 0:
        kind = 'x,y' if count == 2 else 'x1,y1,x2,y2'
        raise argparse.ArgumentTypeError(
            f'--{name} takes FRAME:{kind}, got {text!r}')
    if count == 2:
        return Prompt(frame, point=numbers, source=f'--{name} {text}')
    return Prompt(frame, box=numbers, source=f'--{name} {text}')


def parse_scale(text: str) -> Tuple[int, int]:
    """``LONG,SHORT`` edge limits of the resized frames."""
    values = [int(v) for v in text.split(',')]
    if len(values) != 2 or min(values) < 32:
        raise argparse.ArgumentTypeError(
            f'--scale takes LONG,SHORT (e.g. 640,360), got {text!r}')
    return max(values), min(values)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('video', help='video file (mp4, ...) or frame folder')
    parser.add_argument('config', help='model config file')
    parser.add_argument('--checkpoint', help='checkpoint file')
    parser.add_argument(
        '--unsafe-load', action='store_true',
        help='unpickle the checkpoint fully (runs any code it holds): only '
        'for a legacy file you trust')
    parser.add_argument(
        '--random-weights',
        action='store_true',
        help='no checkpoint and random class embeddings (smoke runs)')
    parser.add_argument(
        '--scale',
        type=parse_scale,
        default=(1280, 736),
        help='longest,shortest side frames are resized to (keeping their '
        'ratio). Defaults to the paper\'s 1280,736; 640,360 on a CPU')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.5,
        help='class score above which an object query is an object; 1 '
        'follows the prompted objects only')
    parser.add_argument(
        '--prompt',
        action='append',
        default=[],
        type=lambda t: parse_prompt(t, 2, 'prompt'),
        metavar='FRAME:X,Y',
        help='add an object by a click on frame FRAME (repeatable)')
    parser.add_argument(
        '--box',
        action='append',
        default=[],
        type=lambda t: parse_prompt(t, 4, 'box'),
        metavar='FRAME:X1,Y1,X2,Y2',
        help='add an object by a box on frame FRAME (repeatable)')
    parser.add_argument(
        '--init-masks',
        help='folder of palette PNG masks named like the frames (e.g. '
        '00000.png): each object is prompted (box and interior click) on '
        'the first frame its mask appears on')
    parser.add_argument('--max-frames', type=int, help='stop after N frames')
    parser.add_argument(
        '--fps',
        type=float,
        help='frame rate of the MP4 / GIF; defaults to the video\'s, 10 '
        'for a frame folder')
    parser.add_argument(
        '--x264-preset',
        default='superfast',
        choices=('ultrafast', 'superfast', 'veryfast', 'faster', 'fast',
                 'medium', 'slow', 'slower', 'veryslow'),
        help='x264 preset of the MP4. The encoder runs beside the model on '
        'the same cores: at 854x480 its CPU time a frame is 28 ms with '
        "'veryfast', 15 ms with 'superfast' (the default; a file 3 %% "
        "larger) and 7 ms with 'ultrafast' (58 %% larger)")
    parser.add_argument(
        '--gif-width',
        type=int,
        default=480,
        help='width of the GIF and strip frames. Defaults to 480')
    parser.add_argument(
        '--strip',
        type=int,
        default=4,
        help='frames side by side in the strip PNG (0: none). Defaults to 4')
    parser.add_argument(
        '--out',
        default='outputs/video_demo',
        help='output folder: NAME.mp4, NAME.gif and NAME_strip.png, NAME '
        'being the video\'s name')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--precision', choices=PRECISIONS, default='fp32',
        help='bf16 / fp16 autocast (bf16 needs a CPU with native bf16, '
        'else it runs in fp32 with a warning); int8: the backbone in int8 '
        '(ONNX Runtime, CPU with VNNI), the rest bf16 where it is faster '
        'than fp32')
    parser.add_argument(
        '--calibration-images', nargs='+', default=None, metavar='PATH',
        help='int8: images or folders (up to 8 images) that set the '
        'quantization ranges; default: the first frame')
    return parser.parse_args(argv)


def open_video(
    path: str,
    max_frames: Optional[int] = None
) -> Tuple[Frames, Optional[int], Optional[float]]:
    """Frames of a video file or a frame folder, streamed.

    Returns:
        tuple: An iterator of ``(name, (H, W, 3) uint8 RGB)``, the number
        of frames (None when the file does not say) and the frame rate
        (None for a folder).
    """
    if osp.isdir(path):
        files = sorted(
            f for f in os.listdir(path)
            if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise SystemExit(f'no image files in {path}')
        files = files[:max_frames]

        def folder_frames() -> Frames:
            for name in files:
                yield osp.splitext(name)[0], to_rgb_uint8(osp.join(path, name))

        return folder_frames(), len(files), None
    if not osp.isfile(path):
        raise SystemExit(f'video not found: {path}')
    reader = imageio.get_reader(path, format='FFMPEG')
    meta = reader.get_meta_data()
    total = meta.get('nframes')
    total = int(total) if total and np.isfinite(total) else None
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames

    def file_frames() -> Frames:
        try:
            for index, frame in enumerate(reader):
                if max_frames is not None and index >= max_frames:
                    break
                yield f'{index:05d}', to_rgb_uint8(
                    np.asarray(frame), f'{path} frame {index}')
        finally:
            reader.close()

    return file_frames(), total, meta.get('fps')


def read_label_mask(path: str, shape: Tuple[int, int]) -> np.ndarray:
    """(H, W) object labels of a palette (or grey) PNG, at the frame size.

    A mask of another size (e.g. the 853-px-wide one of Cutie's judo) is
    resized to the frame with nearest-neighbour interpolation.
    """
    image = Image.open(path)
    if image.mode not in ('P', 'L', 'I', '1'):
        image = image.convert('L')
    labels = np.asarray(image).astype(np.int64)
    if labels.shape != tuple(shape):
        warnings.warn(f'{path}: mask is {labels.shape[1]}x{labels.shape[0]}'
                      f', the frame {shape[1]}x{shape[0]}: resized')
        labels = cv2.resize(
            labels.astype(np.int32), (shape[1], shape[0]),
            interpolation=cv2.INTER_NEAREST)
    return labels


def mask_prompt(mask: np.ndarray, frame: int, source: str) -> Prompt:
    """Box and most interior click of a binary mask."""
    ys, xs = np.nonzero(mask)
    x, y = first_click(mask)
    return Prompt(
        frame,
        point=[x + 0.5, y + 0.5],
        box=[xs.min(), ys.min(),
             xs.max() + 1, ys.max() + 1],
        source=source)


class InitMasks:
    """Semi-supervised VOS input: objects by their first-frame masks.

    Args:
        folder (str): PNG masks named like the frames (``00005.png`` for
            frame ``00005.jpg``, or for the 6th frame of a video file);
            label 0 is background, every other label one object.
    """

    def __init__(self, folder: str) -> None:
        if not osp.isdir(folder):
            raise SystemExit(f'--init-masks: no folder {folder}')
        self.files = {
            osp.splitext(f)[0]: osp.join(folder, f)
            for f in sorted(os.listdir(folder)) if f.lower().endswith('.png')
        }
        self.seen: Dict[int, Prompt] = {}

    def prompts(self, name: str, index: int,
                shape: Tuple[int, int]) -> List[Prompt]:
        """Prompts of the objects whose mask first appears on a frame."""
        path = self.files.get(name) or self.files.get(f'{index:05d}')
        if path is None:
            return []
        labels = read_label_mask(path, shape)
        new = []
        for label in np.unique(labels):
            if label == 0 or label in self.seen:
                continue
            prompt = mask_prompt(labels == label, index,
                                 f'object {label} of {osp.basename(path)}')
            self.seen[int(label)] = prompt
            new.append(prompt)
        return new


def prompt_arrays(prompts: Sequence[Prompt]) -> Dict[str, np.ndarray]:
    """:meth:`VideoPredictor.step` arguments of a frame's new objects.

    Click-only and box-only objects mix: a box-only object gets a padding
    click (label -1) at its box centre, a click-only one an unused box.
    """
    points, labels, boxes, valid = [], [], [], []
    for p in prompts:
        box = p.box if p.box is not None else [0., 0., 0., 0.]
        if p.point is not None:
            points.append([p.point])
            labels.append([1])
        else:
            points.append([[(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]])
            labels.append([-1])
        boxes.append(box)
        valid.append(p.box is not None)
    return dict(
        points=np.array(points, np.float32),
        point_labels=np.array(labels, np.int64),
        boxes=np.array(boxes, np.float32),
        box_valid=np.array(valid))


def put_label(image: np.ndarray,
              text: str,
              xy: Tuple[int, int],
              colour: Sequence[float],
              scale: float = 0.5,
              centred: bool = False) -> None:
    """Text on a filled box of ``colour`` at ``xy`` (its top-left corner,
    or its centre), kept inside the image; in place."""
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = xy
    if centred:
        x, y = x - (w + 4) // 2, y - (h + base + 4) // 2
    x = int(np.clip(x, 0, max(image.shape[1] - w - 4, 0)))
    y = int(np.clip(y, 0, max(image.shape[0] - h - base - 4, 0)))
    cv2.rectangle(image, (x, y), (x + w + 4, y + h + base + 4),
                  tuple(int(c) for c in colour), -1)
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
    cv2.putText(image, text, (x + 2, y + h + 2), cv2.FONT_HERSHEY_SIMPLEX,
                scale, ink, 1, cv2.LINE_AA)


def label_anchor(mask: np.ndarray, stride: int = 4) -> Tuple[int, int]:
    """(x, y) of a mask's most interior pixel, found at ``stride``."""
    small = mask[::stride, ::stride]
    if not small.any():
        ys, xs = np.nonzero(mask)
        return int(xs[0]), int(ys[0])
    x, y = first_click(small)
    return x * stride, y * stride


def draw_frame(frame: np.ndarray, result: Dict[str, np.ndarray],
               new_prompts: Sequence[Prompt], classes: Sequence[str],
               header: str) -> np.ndarray:
    """Masks in their id's colour, id labels, the new prompts and a header.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB.
    """
    masks, ids = result['masks'], [int(i) for i in result['ids']]
    points = [p.point for p in new_prompts if p.point is not None]
    boxes = [p.box for p in new_prompts if p.box is not None]
    out = overlay_masks(
        frame,
        masks,
        alpha=0.5,
        ids=ids,
        points=np.array(points) if points else None,
        boxes=np.array(boxes) if boxes else None)
    scale = max(frame.shape[1] / 854, 0.5) * 0.5
    for mask, obj_id, label in zip(masks, ids, result['labels']):
        if not mask.any():
            continue
        colour = colour_of(obj_id)
        contours, _ = cv2.findContours(
            mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in colour), 2)
        name = 'prompt' if label < 0 else classes[label] if \
            label < len(classes) else str(label)
        put_label(
            out,
            f'{obj_id} {name}',
            label_anchor(mask),
            colour,
            scale,
            centred=True)
    put_label(out, header, (4, 4), (0, 0, 0), scale * 1.2)
    return out


def even_size(image: np.ndarray) -> np.ndarray:
    """Pad to even height and width (H.264 with 4:2:0 chroma needs it)."""
    h, w = image.shape[:2]
    return np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode='edge')


def shrink(image: np.ndarray, width: int) -> np.ndarray:
    """Resize to at most ``width`` pixels wide, keeping the ratio."""
    h, w = image.shape[:2]
    if w <= width:
        return image
    return mmcv.imresize(
        image, (width, max(round(h * width / w), 1)), interpolation='area')


def partial(path: str) -> str:
    """Where an output is written before it replaces ``path`` (only when
    the whole video went through, so a failed run keeps the last good
    outputs)."""
    root, ext = osp.splitext(path)
    return f'{root}.partial{ext}'


def save_strip(frames: Sequence[np.ndarray], path: str) -> None:
    """Frames (of one size) side by side with a white gap, as one PNG."""
    gap = np.full((frames[0].shape[0], 6, 3), 255, np.uint8)
    tiles = [t for frame in frames for t in (frame, gap)][:-1]
    write_image_atomic(path, np.concatenate(tiles, axis=1)[..., ::-1])


def save_gif(frames: Sequence[np.ndarray], path: str,
             duration: float) -> None:
    """RGB frames as a looping GIF, each frame's palette from Pillow's fast
    octree quantizer: 1.7 ms a 427x240 frame against 79-98 ms for its
    default median cut (mean error 2.7 / 255 against 1.6).

    Args:
        frames (Sequence[np.ndarray]): (H, W, 3) uint8 RGB frames.
        path (str): Output file.
        duration (float): Milliseconds a frame.
    """
    images = [
        Image.fromarray(frame).quantize(
            256, method=Image.Quantize.FASTOCTREE) for frame in frames
    ]
    images[0].save(
        path,
        format='GIF',
        save_all=True,
        append_images=images[1:],
        duration=duration,
        loop=0)


def pick(count: int, total: int) -> List[int]:
    """``count`` evenly spread indices of ``total``, first and last in."""
    if count <= 0 or total <= 0:
        return []
    return sorted({
        round(i * (total - 1) / max(count - 1, 1))
        for i in range(min(count, total))
    })


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    """Run the demo; returns the per-frame ids, the FPS and the outputs."""
    args = parse_args(argv)
    keep_freed_memory()  # same tensors every image: keep their pages
    if args.checkpoint is None and not args.random_weights:
        raise SystemExit('give --checkpoint, or --random-weights for a '
                         'smoke run with an untrained model')
    frames, total, source_fps = open_video(args.video, args.max_frames)
    fps_out = args.fps or source_fps or 10.
    torch.manual_seed(0)
    model = build_model(
        args.config,
        args.checkpoint,
        args.device,
        random_weights=args.random_weights,
        unsafe_load=args.unsafe_load)
    classes = model.dataset_meta['classes']
    calibration = None
    if args.precision == 'int8':
        if args.calibration_images:
            calibration = image_files(args.calibration_images)
        else:
            first = next(frames, None)
            if first is None:
                raise SystemExit(f'no frames in {args.video}')
            calibration = [first[1]]
            frames = itertools.chain([first], frames)
    predictor = VideoPredictor(
        model, scale=args.scale, score_thr=args.score_thr,
        precision=args.precision, calibration_images=calibration)
    init_masks = InitMasks(args.init_masks) if args.init_masks else None
    by_frame: Dict[int, List[Prompt]] = defaultdict(list)
    for prompt in args.prompt + args.box:
        by_frame[prompt.frame].append(prompt)

    name = osp.basename(osp.normpath(args.video))
    name = osp.splitext(name)[0] or 'video'
    os.makedirs(args.out, exist_ok=True)
    mp4_path = osp.join(args.out, f'{name}.mp4')
    gif_path = osp.join(args.out, f'{name}.gif')
    strip_path = osp.join(args.out, f'{name}_strip.png')
    writer = imageio.get_writer(
        partial(mp4_path),
        format='FFMPEG',
        fps=fps_out,
        codec='libx264',
        quality=7,
        macro_block_size=1,
        ffmpeg_log_level='error',
        output_params=['-preset', args.x264_preset])
    small_frames: List[np.ndarray] = []
    frame_ids: List[List[int]] = []
    model_time = 0.
    start = time.perf_counter()
    bar = tqdm(frames, total=total, unit='frame', desc=name)
    completed = False
    try:
        for index, (frame_name, frame) in enumerate(bar):
            new = list(by_frame.pop(index, []))
            if init_masks is not None:
                new += init_masks.prompts(frame_name, index, frame.shape[:2])
            prompt_kwargs = prompt_arrays(new) if new else {}
            step_start = time.perf_counter()
            result = predictor.step(frame, **prompt_kwargs)
            model_time += time.perf_counter() - step_start
            # Prompted objects get ids in order, after the earlier ones.
            new_ids = list(predictor.prompted)[len(predictor.prompted) -
                                               len(new):]
            for prompt, obj_id in zip(new, new_ids):
                prompt.track_id = obj_id
                tqdm.write(f'frame {index}: {prompt.source} -> id {obj_id}')
            fps = (index + 1) / model_time
            bar.set_postfix(fps=f'{fps:.2f}', objects=len(result['ids']))
            header = (f'RAP-SAM {fps:.1f} FPS  frame {index}  '
                      f'{len(result["ids"])} objects')
            drawn = draw_frame(frame, result, new, classes, header)
            writer.append_data(even_size(drawn))
            small_frames.append(shrink(drawn, args.gif_width))
            frame_ids.append([int(i) for i in result['ids']])
        completed = True
    finally:
        writer.close()
        bar.close()
        if not completed and osp.exists(partial(mp4_path)):
            os.remove(partial(mp4_path))
    num_frames = len(frame_ids)
    if not num_frames:
        os.remove(partial(mp4_path))
        raise SystemExit('the video has no frames')
    wall = time.perf_counter() - start
    save_gif(small_frames, partial(gif_path), 1000. / fps_out)
    strip = [small_frames[i] for i in pick(args.strip, num_frames)]
    if strip:
        save_strip(strip, partial(strip_path))
    for path in (mp4_path, gif_path) + ((strip_path, ) if strip else ()):
        os.replace(partial(path), path)
    for frame_index, prompts in sorted(by_frame.items()):
        warnings.warn(f'prompts on frame {frame_index} never used: the '
                      f'video has {num_frames} frames')
    summary = dict(
        frames=num_frames,
        ids=frame_ids,
        prompted={
            p.source: p.track_id
            for p in args.prompt + args.box +
            list(init_masks.seen.values() if init_masks else [])
        },
        model_fps=num_frames / model_time,
        fps=num_frames / wall,
        mp4=mp4_path,
        gif=gif_path,
        strip=strip_path if strip else None)
    print(f'{num_frames} frames at scale {args.scale[0]}x{args.scale[1]}, '
          f'{torch.get_num_threads()} threads: model '
          f'{summary["model_fps"]:.2f} FPS, with reading, drawing and '
          f'encoding {summary["fps"]:.2f} FPS')
    print(f'{len(set(sum(frame_ids, [])))} ids -> {mp4_path}, {gif_path}' +
          (f', {strip_path}' if strip else ''))
    return summary


if __name__ == '__main__':
    main()
