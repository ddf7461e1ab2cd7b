"""Video object segmentation folders convert to YouTube-VIS 2019."""
import json
import os
import re
import runpy
import sys

import numpy as np
import pycocotools.mask as mask_util
import pytest
from PIL import Image

from conftest import REPO, shared_data
from rap_sam.datasets.converters import (DAVIS_SAMPLE_CATEGORIES,
                                         convert_video_folders,
                                         fit_to_frame, read_object_mask,
                                         resolve_category, select_frames)
from rap_sam.datasets.class_names import YTVIS2019


def write_sequence(root, name, masks, palette=False, size=None):
    """Frames (JPEG) and masks (PNG, None = no file) of one sequence."""
    h, w = size or masks[0].shape
    os.makedirs(root / 'images' / name, exist_ok=True)
    os.makedirs(root / 'masks' / name, exist_ok=True)
    for t, mask in enumerate(masks):
        Image.new('RGB', (w, h), (90, 120, 30)).save(
            root / 'images' / name / f'{t:05d}.jpg')
        if mask is None:
            continue
        if palette:
            img = Image.frombytes('P', (w, h), mask.astype(np.uint8).tobytes())
            img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] * 64)
        else:
            img = Image.fromarray((mask > 0).astype(np.uint8) * 255)
        img.save(root / 'masks' / name / f'{t:05d}.png')


def decode(segm):
    return mask_util.decode(segm).astype(bool)


def test_select_frames():
    frames = [f'{i:05d}.jpg' for i in range(10)]
    assert select_frames(frames, 3) == [frames[i] for i in (0, 3, 6, 9)]
    assert select_frames(frames, 2, max_frames=2) == frames[:3:2]
    with pytest.raises(ValueError, match='frame_step'):
        select_frames(frames, 0)


def test_categories_resolve_to_ytvis2019_ids():
    ids = {seq: resolve_category(name)
           for seq, name in DAVIS_SAMPLE_CATEGORIES.items()}
    assert {seq: YTVIS2019.classes[i - 1] for seq, i in ids.items()} == {
        'car-shadow': 'sedan', 'dog': 'dog', 'cows': 'cow',
        'scooter-black': 'motorbike'}
    assert ids == {'car-shadow': 6, 'dog': 8, 'cows': 15,
                   'scooter-black': 21}
    with pytest.raises(ValueError, match='no class'):
        resolve_category('spaceship')


def test_binary_and_palette_masks(tmp_path):
    binary = np.zeros((6, 8), np.uint8)
    binary[1:4, 2:5] = 1
    two = np.zeros((6, 8), np.uint8)
    two[0:2, 0:3], two[3:6, 4:8] = 1, 2
    two[5, 7] = 255  # void
    write_sequence(tmp_path, 'one', [binary, binary, None, binary])
    write_sequence(tmp_path, 'two', [two, None, two], palette=True)
    assert read_object_mask(str(tmp_path / 'masks/one/00000.png')).max() == 1
    ids = read_object_mask(str(tmp_path / 'masks/two/00000.png'))
    assert set(np.unique(ids)) == {0, 1, 2}  # void read as background

    dataset = convert_video_folders(
        str(tmp_path / 'images'), str(tmp_path / 'masks'),
        {'one': 'dog', 'two/2': 'cat'}, default_category='person',
        relative_to=str(tmp_path))
    assert [v['file_names'] for v in dataset['videos']] == [
        [f'images/one/{t:05d}.jpg' for t in range(4)],
        [f'images/two/{t:05d}.jpg' for t in range(3)]]
    assert [(v['width'], v['height'], v['length'])
            for v in dataset['videos']] == [(8, 6, 4), (8, 6, 3)]
    anns = dataset['annotations']
    assert [(a['id'], a['video_id'], a['category_id']) for a in anns] == [
        (1, 1, 8), (2, 2, 1), (3, 2, 14)]
    one = anns[0]
    assert one['segmentations'][2] is None and one['areas'][2] is None
    assert np.array_equal(decode(one['segmentations'][0]), binary > 0)
    assert one['bboxes'][0] == [2., 1., 3., 3.]
    assert one['areas'][0] == 9
    two_obj2 = anns[2]
    assert two_obj2['segmentations'][1] is None
    expected = two == 2
    expected[5, 7] = False
    assert np.array_equal(decode(two_obj2['segmentations'][2]), expected)
    assert len(dataset['categories']) == 40


def test_mask_of_another_size_is_cropped_or_padded(tmp_path):
    narrow = np.ones((6, 7), np.uint8)
    write_sequence(tmp_path, 'seq', [narrow], size=(6, 8))
    with pytest.warns(UserWarning, match=r'00000\.png: mask is 7x6 but its '
                      r'frame is 8x6'):
        dataset = convert_video_folders(
            str(tmp_path / 'images'), str(tmp_path / 'masks'), {'seq': 'dog'})
    mask = decode(dataset['annotations'][0]['segmentations'][0])
    assert mask.shape == (6, 8) and mask[:, :7].all() and not mask[:, 7].any()
    big = np.ones((8, 10), bool)
    assert fit_to_frame(big, 6, 8).shape == (6, 8)


def test_errors_name_the_file(tmp_path):
    mask = np.ones((4, 4), np.uint8)
    write_sequence(tmp_path, 'seq', [mask, mask])
    bad = tmp_path / 'masks' / 'seq' / '00001.png'
    bad.write_bytes(b'not a png')
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        convert_video_folders(
            str(tmp_path / 'images'), str(tmp_path / 'masks'), {'seq': 'dog'})
    bad.unlink()
    with pytest.raises(ValueError, match="object 1 of sequence 'seq'"):
        convert_video_folders(
            str(tmp_path / 'images'), str(tmp_path / 'masks'), {})
    orphan = tmp_path / 'masks' / 'seq' / '00007.png'
    Image.fromarray(mask * 255).save(orphan)
    with pytest.raises(ValueError, match=re.escape(str(orphan))):
        convert_video_folders(
            str(tmp_path / 'images'), str(tmp_path / 'masks'), {'seq': 'dog'})


def test_davis_sample_sequences():
    root = shared_data('davis2016')
    dataset = convert_video_folders(
        str(root / 'JPEGImages' / '480p'), str(root / 'Annotations' / '480p'),
        DAVIS_SAMPLE_CATEGORIES, sequences=['dog', 'car-shadow'],
        frame_step=10, max_frames=3)
    assert [v['file_names'] for v in dataset['videos']] == [
        ['dog/00000.jpg', 'dog/00010.jpg', 'dog/00020.jpg'],
        ['car-shadow/00000.jpg', 'car-shadow/00010.jpg',
         'car-shadow/00020.jpg']]
    assert all((v['width'], v['height']) == (854, 480)
               for v in dataset['videos'])
    dog, car = dataset['annotations']
    assert (dog['category_id'], car['category_id']) == (8, 6)
    png = np.array(Image.open(root / 'Annotations/480p/dog/00010.png')) > 127
    assert np.array_equal(decode(dog['segmentations'][1]), png)
    assert dog['areas'][1] == int(png.sum())


def test_cutie_palette_masks_on_some_frames():
    root = shared_data('cutie_examples')
    with pytest.warns(UserWarning, match='853x480'):
        dataset = convert_video_folders(
            str(root / 'images'), str(root / 'masks'),
            {'bike/1': 'person'}, default_category='person')
    bike, judo = dataset['videos']
    assert (bike['length'], judo['length']) == (4, 16)
    anns = [a for a in dataset['annotations'] if a['video_id'] == 2]
    present = [[t for t, s in enumerate(a['segmentations']) if s]
               for a in anns]
    assert present == [[0], [5], [8], [13]]
    mask = decode(anns[1]['segmentations'][5])
    assert mask.shape == (480, 854) and not mask[:, 853].any()


def test_cli_writes_json(tmp_path, monkeypatch):
    mask = np.ones((4, 6), np.uint8)
    write_sequence(tmp_path, 'seq', [mask, mask, mask])
    out = tmp_path / 'out' / 'ytvis.json'
    monkeypatch.setattr(sys, 'argv', [
        'davis_to_ytvis.py', str(tmp_path / 'images'),
        str(tmp_path / 'masks'), str(out), '--category', 'seq=cow',
        '--frame-step', '2'])
    runpy.run_path(
        str(REPO / 'tools' / 'dataset_converters' / 'davis_to_ytvis.py'),
        run_name='__main__')
    dataset = json.loads(out.read_text())
    assert dataset['videos'][0]['file_names'] == ['seq/00000.jpg',
                                                  'seq/00002.jpg']
    assert dataset['annotations'][0]['category_id'] == 15
    assert os.listdir(out.parent) == ['ytvis.json']  # no temporary left
