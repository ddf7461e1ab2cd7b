"""One image reader for every entry point: clear errors, documented rules."""
import numpy as np
import pytest

from conftest import SHARED_DATA
from rap_sam.inference import to_rgb_uint8
from rap_sam.inference.image_io import MIN_SIDE

TRUCK = SHARED_DATA / 'images' / 'truck.jpg'


@pytest.mark.parametrize('content', [b'', b'this is text, not a jpeg',
                                     b'\xff\xd8\xff\xe0' + b'\x00' * 20])
def test_unreadable_files_name_the_file(tmp_path, content):
    path = tmp_path / 'photo.jpg'
    path.write_bytes(content)
    with pytest.raises(ValueError, match='photo.jpg: could not decode'):
        to_rgb_uint8(str(path))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match='nope.png: no such image file'):
        to_rgb_uint8(str(tmp_path / 'nope.png'))


def test_truncated_real_jpeg_is_refused_or_read(tmp_path):
    if not TRUCK.exists():
        pytest.skip(f'{TRUCK} not found')
    path = tmp_path / 'cut.jpg'
    path.write_bytes(TRUCK.read_bytes()[:200])
    with pytest.raises(ValueError, match='cut.jpg'):
        to_rgb_uint8(str(path))


def test_channels_and_dtypes_follow_the_documented_rules():
    grey = np.full((16, 20), 7, np.uint8)
    assert to_rgb_uint8(grey).shape == (16, 20, 3)
    rgba = np.zeros((16, 20, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 9
    out = to_rgb_uint8(rgba)
    assert out.shape == (16, 20, 3) and (out[..., 0] == 200).all()
    deep = np.full((16, 20, 3), 65535, np.uint16)
    assert (to_rgb_uint8(deep) == 255).all()
    assert (to_rgb_uint8(np.full((16, 20, 3), 0.5)) == 127).all()
    assert (to_rgb_uint8(np.full((16, 20, 3), 300.)) == 255).all()


@pytest.mark.parametrize('array,match', [
    (np.full((16, 20, 3), np.nan), 'NaN'),
    (np.ones((16, 20), bool), 'dtype bool'),
    (np.ones((16, 20, 3), np.int64), 'dtype int64'),
    (np.zeros((1, 2000, 3), np.uint8), '2000x1 pixels'),
    (np.zeros((16, 20, 2), np.uint8), 'shape'),
])
def test_bad_arrays_are_refused_naming_the_problem(array, match):
    with pytest.raises(ValueError, match=match):
        to_rgb_uint8(array)
    assert MIN_SIDE >= 2
