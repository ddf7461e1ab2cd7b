"""Write a subset of a COCO panoptic annotation file (and its PNGs).

Examples::

    python tools/dataset_converters/coco_panoptic_subset.py \
        data/coco/annotations/panoptic_val2017.json \
        data/coco/annotations/panoptic_val2017_first100.json --first-n 100

    python tools/dataset_converters/coco_panoptic_subset.py \
        ../shared/data/coco_panoptic_sample/panoptic_examples.json \
        data/sample/panoptic.json --image-ids 142238 \
        --png-dir ../shared/data/coco_panoptic_sample/panoptic_examples \
        --png-out-dir data/sample/panoptic
"""
import argparse

from rap_sam.datasets.converters import subset_coco_panoptic


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('ann_file', help='COCO panoptic JSON')
    parser.add_argument('out', help='output JSON')
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument('--image-ids', type=int, nargs='+')
    which.add_argument('--first-n', type=int)
    parser.add_argument('--png-dir', help='folder of the panoptic PNGs '
                        '(default: ann_file without .json)')
    parser.add_argument('--png-out-dir', help='copy the kept PNGs here '
                        '(default: no copy; the PNGs stay where they are)')
    args = parser.parse_args()
    try:
        subset = subset_coco_panoptic(
            args.ann_file,
            args.out,
            image_ids=args.image_ids,
            first_n=args.first_n,
            png_dir=args.png_dir,
            png_out_dir=args.png_out_dir)
    except (OSError, ValueError) as e:
        raise SystemExit(f'error: {e}')
    print(f'{len(subset["images"])} images written to {args.out}')


if __name__ == '__main__':
    main()
