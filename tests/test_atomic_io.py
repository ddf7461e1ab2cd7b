"""Atomic writes: the old file survives a failed write, no temp left."""
import json

import cv2
import numpy as np
import pytest

from rap_sam.utils import atomic_path, dump_json_atomic, write_image_atomic


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / 'out.json'
    dump_json_atomic({'a': 1}, str(path))
    with pytest.raises(TypeError):
        dump_json_atomic({'a': object()}, str(path))  # not serialisable
    assert json.loads(path.read_text()) == {'a': 1}
    assert [p.name for p in tmp_path.iterdir()] == ['out.json']


def test_interrupted_writer_leaves_nothing(tmp_path):
    path = tmp_path / 'model.onnx'
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(str(path)) as tmp:
            assert tmp.endswith('.onnx') and tmp != str(path)
            open(tmp, 'wb').write(b'half')
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_image_round_trip_and_unencodable(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (12, 16, 3), np.uint8)
    path = tmp_path / 'sub' / 'x.png'
    write_image_atomic(str(path), image)
    np.testing.assert_array_equal(cv2.imread(str(path)), image)
    with pytest.raises((ValueError, cv2.error)):
        write_image_atomic(str(tmp_path / 'y.unknown'), image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['sub']
