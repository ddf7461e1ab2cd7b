"""Convert DAVIS / Cutie style video folders to a YouTube-VIS 2019 JSON.

Examples::

    # The DAVIS-2016 sample sequences, every 4th frame, at most 10 frames
    python tools/dataset_converters/davis_to_ytvis.py \
        ../shared/data/davis2016/JPEGImages/480p \
        ../shared/data/davis2016/Annotations/480p \
        data/davis2016_ytvis.json --davis-sample-categories \
        --frame-step 4 --max-frames 10

    # Cutie's palette masks, given on some frames only (objects are
    # named per sequence or per object: judo/2=person)
    python tools/dataset_converters/davis_to_ytvis.py \
        ../shared/data/cutie_examples/images \
        ../shared/data/cutie_examples/masks data/cutie_ytvis.json \
        --default-category person
"""
import argparse

from rap_sam.datasets.converters import (DAVIS_SAMPLE_CATEGORIES,
                                         convert_video_folders,
                                         dump_json_atomic)


def parse_categories(items):
    categories = {}
    for item in items or []:
        key, sep, name = item.partition('=')
        if not sep or not key or not name:
            raise SystemExit(f'--category wants SEQUENCE[/OBJECT]=NAME, '
                             f'got {item!r}')
        categories[key] = name
    return categories


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('image_root', help='folder of sequence folders '
                        'of frames')
    parser.add_argument('mask_root', help='folder of sequence folders of '
                        'mask PNGs')
    parser.add_argument('out', help='output YouTube-VIS JSON')
    parser.add_argument('--sequences', nargs='+', help='sequences to '
                        'convert, in order (default: all, sorted)')
    parser.add_argument('--category', nargs='+', metavar='KEY=NAME',
                        help='category per sequence (dog=dog) or object '
                        '(judo/2=person); a class name or synonym')
    parser.add_argument('--davis-sample-categories', action='store_true',
                        help='use the categories of the DAVIS-2016 sample '
                        f'sequences: {DAVIS_SAMPLE_CATEGORIES}')
    parser.add_argument('--default-category', help='category of objects '
                        'not named by --category')
    parser.add_argument('--frame-step', type=int, default=1,
                        help='keep every k-th frame (default 1)')
    parser.add_argument('--max-frames', type=int, help='keep at most this '
                        'many frames per video')
    parser.add_argument('--mask-mode', default='auto',
                        choices=['auto', 'binary', 'palette'])
    parser.add_argument('--relative-to', help='folder that file_names are '
                        'relative to (default: image_root)')
    args = parser.parse_args()
    categories = dict(DAVIS_SAMPLE_CATEGORIES) \
        if args.davis_sample_categories else {}
    categories.update(parse_categories(args.category))
    try:
        dataset = convert_video_folders(
            args.image_root,
            args.mask_root,
            categories,
            sequences=args.sequences,
            default_category=args.default_category,
            frame_step=args.frame_step,
            max_frames=args.max_frames,
            mask_mode=args.mask_mode,
            relative_to=args.relative_to)
    except (OSError, ValueError) as e:
        raise SystemExit(f'error: {e}')
    dump_json_atomic(dataset, args.out)
    print(f'{len(dataset["videos"])} videos, '
          f'{len(dataset["annotations"])} objects written to {args.out}')


if __name__ == '__main__':
    main()
