"""Subsets of a COCO panoptic annotation file."""
import json

import pytest

from conftest import shared_data
from rap_sam.datasets.converters import (make_synthetic_coco_panoptic,
                                         subset_coco_panoptic)


def test_subset_by_ids_copies_pngs(tmp_path):
    root = shared_data('coco_panoptic_sample')
    out = tmp_path / 'sub' / 'panoptic.json'
    subset = subset_coco_panoptic(
        str(root / 'panoptic_examples.json'), str(out), image_ids=[439180],
        png_dir=str(root / 'panoptic_examples'),
        png_out_dir=str(tmp_path / 'sub' / 'pngs'))
    assert json.loads(out.read_text()) == subset
    assert [img['id'] for img in subset['images']] == [439180]
    assert [a['image_id'] for a in subset['annotations']] == [439180]
    assert len(subset['annotations'][0]['segments_info']) == 32
    assert len(subset['categories']) == 133
    copied = tmp_path / 'sub' / 'pngs' / '000000439180.png'
    assert copied.read_bytes() == (
        root / 'panoptic_examples' / '000000439180.png').read_bytes()


def test_first_n_references_pngs(tmp_path):
    paths = make_synthetic_coco_panoptic(str(tmp_path / 'syn'), num_images=3)
    out = tmp_path / 'first2.json'
    subset = subset_coco_panoptic(paths['ann_file'], str(out), first_n=2)
    assert [img['id'] for img in subset['images']] == [1, 2]
    assert [a['image_id'] for a in subset['annotations']] == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ['first2.json',
                                                          'syn']


def test_subset_errors(tmp_path):
    paths = make_synthetic_coco_panoptic(str(tmp_path / 'syn'), num_images=2)
    with pytest.raises(ValueError, match=r'panoptic\.json: no image with id '
                       r'\[7\]'):
        subset_coco_panoptic(paths['ann_file'], str(tmp_path / 'o.json'),
                             image_ids=[1, 7])
    with pytest.raises(ValueError, match='exactly one'):
        subset_coco_panoptic(paths['ann_file'], str(tmp_path / 'o.json'))
    with pytest.raises(FileNotFoundError, match='000000000001.png'):
        subset_coco_panoptic(paths['ann_file'], str(tmp_path / 'o.json'),
                             first_n=1, png_dir=str(tmp_path),
                             png_out_dir=str(tmp_path / 'copy'))
