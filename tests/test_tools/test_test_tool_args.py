"""tools/test.py refuses arguments that cannot work, before any work."""
import os

import pytest

from bench_data import load_test_tool

CONFIG = 'configs/rap_sam/rap-sam_r18_test_coco-panoptic.py'


@pytest.fixture(scope='module')
def tool():
    return load_test_tool()


@pytest.fixture()
def checkpoint(tmp_path):
    path = tmp_path / 'model.pth'
    path.write_bytes(b'not read by these checks')
    return str(path)


def fail(tool, argv, capsys=None):
    with pytest.raises(SystemExit) as err:
        tool.build_runner(tool.parse_args(argv))
    return str(err.value.code)


def test_swapped_config_and_checkpoint(tool, checkpoint):
    from conftest import REPO
    message = fail(tool, [checkpoint, str(REPO / CONFIG)])
    assert 'look swapped' in message and checkpoint in message


def test_missing_config_is_named(tool, checkpoint, tmp_path):
    missing = str(tmp_path / 'nope.py')
    assert f'config {missing!r} does not exist' in fail(
        tool, [missing, checkpoint])


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes anywhere')
def test_unwritable_out_json_fails_first(tool, checkpoint, tmp_path):
    from conftest import REPO
    locked = tmp_path / 'locked'
    locked.mkdir(mode=0o500)
    message = fail(tool, [str(REPO / CONFIG), checkpoint, '--out-json',
                          str(locked / 'table.json')])
    assert '--out-json' in message and 'cannot write' in message


def test_out_json_that_is_a_folder_fails_first(tool, checkpoint, tmp_path):
    from conftest import REPO
    message = fail(tool, [str(REPO / CONFIG), checkpoint, '--out-json',
                          str(tmp_path)])
    assert '--out-json' in message and 'is a folder' in message


def test_out_must_be_a_pickle(tool, checkpoint, capsys):
    from conftest import REPO
    with pytest.raises(SystemExit) as err:
        tool.parse_args([str(REPO / CONFIG), checkpoint, '--out', 'x.json'])
    assert err.value.code == 2
    assert 'must be a pkl file' in capsys.readouterr().err


@pytest.mark.parametrize('content', [b'', b'{"images": [', b'\xff\xfe'])
def test_broken_annotation_file_is_named(tool, checkpoint, tmp_path,
                                         content):
    from conftest import REPO
    ann = tmp_path / 'panoptic_val2017.json'
    ann.write_bytes(content)
    message = fail(tool, [
        str(REPO / CONFIG), checkpoint, '--cfg-options',
        f'test_dataloader.dataset.ann_file={ann}',
        f'test_dataloader.dataset.data_root={tmp_path}/'
    ])
    assert f'annotation file {ann}' in message
    assert 'not valid JSON' in message


def test_tta_needs_a_tta_model(tool, checkpoint):
    from conftest import REPO
    message = fail(tool, [str(REPO / CONFIG), checkpoint, '--tta'])
    assert '--tta' in message and 'tta_model' in message
