"""tools/test.py end to end on tiny real data: one markdown table per run.

Each benchmark's R18 test config runs through tools/test.py's own code
path (config, runner, test loop, metrics, BenchmarkTableHook) twice: with
a random-weights checkpoint (the table has the expected rows, all values
finite) and with the model replaced by an oracle that returns the ground
truth (PQ / mAP / mIoU / VPQ 100, NoC 1).
"""
import json
import math

import numpy as np
import pytest
import torch

from bench_data import (CocoOracle, coco_dataset, coco_panoptic_metric,
                        coco_root, coco_things_json, davis_vipseg,
                        davis_ytvis, load_test_tool, save_random_checkpoint,
                        tiny_config, video_instance_oracle,
                        video_panoptic_oracle, ytvis_dataset)
from rap_sam.datasets import VIPSEG_STUFF_CLASSES, VIPSEG_THING_CLASSES

PANOPTIC = ('PQ', 'SQ', 'RQ', 'PQ_th', 'SQ_th', 'RQ_th', 'PQ_st', 'SQ_st',
            'RQ_st')
SEGM = ('segm_mAP', 'segm_mAP_50', 'segm_mAP_75', 'segm_mAP_s',
        'segm_mAP_m', 'segm_mAP_l')
VIS = ('segm_mAP', 'segm_mAP_50', 'segm_mAP_75', 'segm_mAP_s', 'segm_mAP_m',
       'segm_mAP_l')
VPS = ('VPQ@1', 'VPQ@2', 'VPQ', 'VPQ_th', 'VPQ_st', 'STQ', 'AQ', 'SQ')
INTERACTIVE = ('mIoU', 'mIoU_point', 'mIoU_box', 'num_prompts', 'NoC@85',
               'NoF@85', 'NoC@90', 'NoF@90', 'mIoU@1', 'mIoU@3', 'mIoU@5',
               'num_click_objects')
SEMSEG = ('aAcc', 'mIoU', 'mAcc')


@pytest.fixture(scope='module')
def tool():
    return load_test_tool()


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return save_random_checkpoint(
        tmp_path_factory.mktemp('ckpt') / 'random_r18.pth')


def run(tool, config, checkpoint, tmp_path, oracle=None, show=False):
    """tools/test.py on a config; the oracle's methods replace the
    model's. Returns the JSON rows and the printed table lines."""
    out_json = str(tmp_path / 'table.json')
    argv = [config, checkpoint, '--work-dir', str(tmp_path / 'work'),
            '--out-json', out_json]
    if show:
        argv += ['--show-dir', str(tmp_path / 'show')]
    args = tool.parse_args(argv)
    runner = tool.build_runner(args)
    for name, fn in (oracle or {}).items():
        setattr(runner.model, name, fn)
    runner.test()
    hook = next(h for h in runner.hooks
                if type(h).__name__ == 'BenchmarkTableHook')
    saved = json.load(open(out_json))
    assert saved['rows'] == json.loads(json.dumps(hook.rows))
    return saved['rows'], hook.table.splitlines()


def check_table(rows, lines, expected):
    """The rows are exactly ``expected`` ((task, metric) pairs, in
    order), every value finite, the throughput positive, and the printed
    table has a header, a rule and one line per row."""
    assert [(r['task'], r['metric']) for r in rows] == expected
    for r in rows:
        assert math.isfinite(r['value']), r
        assert r['images_per_s'] > 0
    assert lines[0] == '| task | dataset | metric | value | images/s |'
    assert len(lines) == 2 + len(rows)
    return {r['metric']: r['value'] for r in rows}


def values(rows, task):
    return {r['metric']: r['value'] for r in rows if r['task'] == task}


@pytest.fixture(scope='module')
def coco_config(tmp_path_factory):
    root = coco_root()
    tmp = tmp_path_factory.mktemp('coco')
    # The semantic metric (ADE20K's) rides along, listed first.
    evaluator = [
        dict(type='PanopticSemSegMetric', iou_metrics=['mIoU']),
        coco_panoptic_metric(root),
        dict(type='CocoMetric', ann_file=coco_things_json(tmp),
             metric=['segm'])
    ]
    return tiny_config('coco-panoptic', tmp, coco_dataset(root), evaluator,
                       scale=(512, 320))


def test_coco_panoptic_random_weights(tool, checkpoint, coco_config,
                                      tmp_path, capsys):
    rows, lines = run(tool, coco_config, checkpoint, tmp_path, show=True)
    expected = [('semantic', k) for k in SEMSEG] + \
        [('panoptic', k) for k in PANOPTIC] + \
        [('instance', k) for k in SEGM]
    check_table(rows, lines, expected)
    assert all(r['dataset'] == 'COCO val2017' for r in rows)
    # The table is printed once, as is.
    out = capsys.readouterr().out
    assert out.count('| task | dataset | metric | value | images/s |') == 1
    assert '\n'.join(lines) in out
    shown = list((tmp_path / 'show').glob('*.jpg'))
    assert len(shown) == 2


def test_coco_panoptic_oracle(tool, checkpoint, coco_config, tmp_path):
    oracle = CocoOracle(coco_root())
    rows, _ = run(tool, coco_config, checkpoint, tmp_path,
                  dict(predict=oracle.predict))
    pan, inst, sem = (values(rows, t)
                      for t in ('panoptic', 'instance', 'semantic'))
    for key in PANOPTIC:
        assert pan[key] == pytest.approx(100.), key
    for key in ('segm_mAP', 'segm_mAP_50', 'segm_mAP_75'):
        assert inst[key] == pytest.approx(100.), key
    assert sem['mIoU'] == pytest.approx(100.)
    assert sem['aAcc'] == pytest.approx(100.)


@pytest.fixture(scope='module')
def coco_sam_config(tmp_path_factory):
    root = coco_root()
    tmp = tmp_path_factory.mktemp('coco_sam')
    evaluator = dict(type='InteractiveSegMetric', max_clicks=5,
                     miou_clicks=(1, 3, 5))
    return tiny_config('coco-sam', tmp, coco_dataset(root), evaluator,
                       scale=(384, 384))


def test_coco_sam_random_weights(tool, checkpoint, coco_sam_config,
                                 tmp_path):
    rows, lines = run(tool, coco_sam_config, checkpoint, tmp_path,
                      show=True)
    got = check_table(rows, lines,
                      [('interactive', k) for k in INTERACTIVE])
    # 47 non-crowd segments (50 minus 3 crowd), each a point and a box.
    assert got['num_prompts'] == 2 * 47
    assert got['num_click_objects'] == 47
    # The first simulated click is the point prompt: same masks.
    assert got['mIoU@1'] == pytest.approx(got['mIoU_point'], abs=1e-6)
    assert 1 <= got['NoC@85'] <= 5
    names = sorted(p.name for p in (tmp_path / 'show').glob('*.jpg'))
    assert names == ['000000142238_box.jpg', '000000142238_point.jpg',
                     '000000439180_box.jpg', '000000439180_point.jpg']


def test_coco_sam_oracle(tool, checkpoint, coco_sam_config, tmp_path):
    oracle = CocoOracle(coco_root())
    rows, _ = run(
        tool, coco_sam_config, checkpoint, tmp_path,
        dict(extract_feat=oracle.extract_feat,
             predict_from_feats=oracle.predict_from_feats))
    got = values(rows, 'interactive')
    for key in ('mIoU', 'mIoU_point', 'mIoU_box', 'mIoU@1', 'mIoU@3',
                'mIoU@5'):
        assert got[key] == pytest.approx(100.), key
    assert got['NoC@85'] == 1 and got['NoC@90'] == 1
    assert got['NoF@85'] == 0 and got['NoF@90'] == 0


@pytest.fixture(scope='module')
def ytvis_config(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ytvis')
    return tiny_config(
        'ytvis-2019', tmp, ytvis_dataset(davis_ytvis(tmp)),
        dict(type='YouTubeVISCompatMetric',
             outfile_prefix=str(tmp / 'results')),
        scale=(320, 192))


def test_ytvis_random_weights(tool, checkpoint, ytvis_config, tmp_path):
    rows, lines = run(tool, ytvis_config, checkpoint, tmp_path)
    check_table(rows, lines, [('video instance', k) for k in VIS])
    # 2 videos of 4 frames in 2-frame clips.
    saved = json.load(open(tmp_path / 'table.json'))
    assert saved['timing']['images'] == 8


def test_ytvis_oracle(tool, checkpoint, ytvis_config, tmp_path):
    rows, _ = run(tool, ytvis_config, checkpoint, tmp_path,
                  dict(predict=video_instance_oracle))
    got = values(rows, 'video instance')
    for key in ('segm_mAP', 'segm_mAP_50', 'segm_mAP_75'):
        assert got[key] == pytest.approx(100.), key


def test_ytvis_without_ground_truth_writes_the_submission(
        tool, checkpoint, tmp_path):
    prefix = tmp_path / 'sub' / 'results'
    config = tiny_config(
        'ytvis-2019', tmp_path,
        ytvis_dataset(davis_ytvis(tmp_path, max_frames=2, with_gt=False)),
        dict(type='YouTubeVISCompatMetric', outfile_prefix=str(prefix)),
        scale=(160, 96))
    rows, lines = run(tool, config, checkpoint, tmp_path,
                      dict(predict=video_instance_oracle))
    zip_file = f'{prefix}.submission_file.zip'
    assert [(r['metric'], r['value']) for r in rows] == [('submission',
                                                          zip_file)]
    import zipfile
    with zipfile.ZipFile(zip_file) as zf:
        assert zf.namelist() == ['results.json']
    assert not [p for p in (tmp_path / 'sub').iterdir()
                if p.name.endswith('.tmp')]


@pytest.fixture(scope='module')
def vipseg_config(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('vipseg')
    root = davis_vipseg(tmp)
    return tiny_config(
        'vipseg', tmp, dict(data_root=root + '/'),
        dict(type='VideoPanopticMetric', window_sizes=(1, 2)),
        scale=(320, 192))


def test_vipseg_config_orders_things_first():
    from mmengine.config import Config
    from conftest import CONFIG_DIR
    cfg = Config.fromfile(str(CONFIG_DIR / 'rap-sam_r50_test_vipseg.py'))
    classifier = cfg.model.panoptic_head.test_classifier
    assert tuple(classifier.class_names) == \
        VIPSEG_THING_CLASSES + VIPSEG_STUFF_CLASSES
    assert cfg.model.panoptic_fusion_head.num_things_classes == \
        len(VIPSEG_THING_CLASSES)


def test_vipseg_random_weights(tool, checkpoint, vipseg_config, tmp_path):
    torch.manual_seed(0)
    rows, lines = run(tool, vipseg_config, checkpoint, tmp_path)
    check_table(rows, lines, [('video panoptic', k) for k in VPS])


def test_vipseg_oracle(tool, checkpoint, vipseg_config, tmp_path):
    rows, _ = run(tool, vipseg_config, checkpoint, tmp_path,
                  dict(predict=video_panoptic_oracle))
    got = values(rows, 'video panoptic')
    for key in VPS:
        assert got[key] == pytest.approx(100.), key


def test_video_panoptic_ids_are_stable():
    """The model's own video panoptic maps: one id per query slot on
    every frame (a thing keeps its id), VOID where nothing is kept."""
    from mmdet.evaluation.functional import INSTANCE_OFFSET
    from rap_sam.models.detectors.clip_results import clip_panoptic_frames
    probs = torch.full((3, 4), 0.01)
    probs[0, 0] = probs[1, 2] = 0.97  # a thing (label 0), a stuff (2)
    probs[2, 3] = 0.97  # background: dropped
    logits = torch.full((3, 2, 4, 4), -10.)
    logits[0, :, :2] = 10.
    logits[1, :, 2:] = 10.
    meta = dict(batch_input_shape=(16, 16), img_shape=(16, 16),
                ori_shape=(8, 8))
    maps = [p.sem_seg[0] for p in clip_panoptic_frames(
        probs, logits, [meta, meta], num_things=2)]
    for pan in maps:
        assert set(np.unique(pan.numpy())) == {0 + 1 * INSTANCE_OFFSET, 2}
        assert pan.shape == (8, 8)
    assert torch.equal(maps[0], maps[1])
