"""tools/test.py end to end on tiny real data: one markdown table per run.

Each benchmark's R18 test config runs through tools/test.py's own code
path (config, runner, test loop, metrics, BenchmarkTableHook) twice: with
a random-weights checkpoint (the table has the expected rows, all values
finite) and with the model replaced by an oracle that returns the ground
truth (PQ / mAP / mIoU / VPQ 100, NoC 1).
"""
import json
import math
import zipfile

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
               'NoF@85', 'NoC@90', 'NoF@90', 'mIoU@1', 'mIoU@3',
               'num_click_objects')
SEMSEG = ('aAcc', 'mIoU', 'mAcc')
R18_SAM = 'rap-sam_r18_test_coco-sam.py'


@pytest.fixture(scope='module')
def tool():
    return load_test_tool()


@pytest.fixture(autouse=True)
def no_env_log(monkeypatch):
    """Skip the runner's environment report (compiler and CUDA probes,
    seconds per runner; logging only)."""
    from mmengine.runner import Runner
    monkeypatch.setattr(Runner, '_log_env', lambda self, *args: None)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return save_random_checkpoint(
        tmp_path_factory.mktemp('ckpt') / 'random_r18.pth')


class Run:
    """tools/test.py's runner of a config; ``test()`` runs it (again),
    with an oracle's methods in place of the model's when given, and
    returns the JSON rows and the printed table's lines."""

    def __init__(self, tool, config, checkpoint, tmp_path, show=False,
                 extra=()):
        self.out_json = tmp_path / 'table.json'
        argv = [config, checkpoint, '--work-dir', str(tmp_path / 'work'),
                '--out-json', str(self.out_json), *extra]
        if show:
            argv += ['--show-dir', str(tmp_path / 'show')]
        self.runner = tool.build_runner(tool.parse_args(argv))

    def test(self, oracle=None):
        for name, fn in (oracle or {}).items():
            setattr(self.runner.model, name, fn)
        self.runner.test()
        hook = next(h for h in self.runner.hooks
                    if type(h).__name__ == 'BenchmarkTableHook')
        saved = json.load(open(self.out_json))
        assert saved['rows'] == json.loads(json.dumps(hook.rows))
        self.saved = saved
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


def test_coco_panoptic(tool, checkpoint, coco_config, tmp_path, capsys):
    predictions = tmp_path / 'predictions.pkl'
    run = Run(tool, coco_config, checkpoint, tmp_path,
              extra=['--out', str(predictions)])
    rows, lines = run.test()
    # --out: the predictions as mmdet's DumpDetResults writes them
    from mmengine.fileio import load
    dumped = load(str(predictions))
    assert len(dumped) == 2
    assert all('pred_panoptic_seg' in d and 'pred_instances' in d
               for d in dumped)
    expected = [('semantic', k) for k in SEMSEG] + \
        [('panoptic', k) for k in PANOPTIC] + \
        [('instance', k) for k in SEGM]
    check_table(rows, lines, expected)
    assert all(r['dataset'] == 'COCO val2017' for r in rows)
    assert run.saved['timing']['images'] == 2
    # The table is printed once, as is.
    out = capsys.readouterr().out
    assert out.count('| task | dataset | metric | value | images/s |') == 1
    assert '\n'.join(lines) in out

    rows, _ = run.test(dict(predict=CocoOracle(coco_root()).predict))
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
    evaluator = dict(type='InteractiveSegMetric', max_clicks=3,
                     miou_clicks=(1, 3))
    # The 8 largest segments of each image only (time).
    return tiny_config('coco-sam', tmp, coco_dataset(root), evaluator,
                       scale=(384, 384),
                       transforms=dict(GTSegmentPrompts=dict(max_segments=8)))


def test_coco_sam(tool, checkpoint, coco_sam_config, tmp_path):
    run = Run(tool, coco_sam_config, checkpoint, tmp_path, show=True)
    rows, lines = run.test()
    got = check_table(rows, lines,
                      [('interactive', k) for k in INTERACTIVE])
    # The 8 largest segments of each image, each a point and a box.
    assert got['num_prompts'] == 2 * 16
    assert got['num_click_objects'] == 16
    # The first simulated click is the point prompt: the same masks, decoded
    # with and without the object queries and the other prompts (float
    # rounding may flip a pixel at a mask's edge: 1.6e-6 here).
    assert got['mIoU@1'] == pytest.approx(got['mIoU_point'], abs=1e-4)
    assert 1 <= got['NoC@85'] <= 3
    names = sorted(p.name for p in (tmp_path / 'show').glob('*.jpg'))
    assert names == ['000000142238_box.jpg', '000000142238_point.jpg',
                     '000000439180_box.jpg', '000000439180_point.jpg']

    oracle = CocoOracle(coco_root())
    rows, _ = run.test(
        dict(extract_feat=oracle.extract_feat,
             predict_from_feats=oracle.predict_from_feats))
    got = values(rows, 'interactive')
    for key in ('mIoU', 'mIoU_point', 'mIoU_box', 'mIoU@1', 'mIoU@3'):
        assert got[key] == pytest.approx(100.), key
    assert got['NoC@85'] == 1 and got['NoC@90'] == 1
    assert got['NoF@85'] == 0 and got['NoF@90'] == 0


def test_coco_sam_prompts_every_segment():
    """The COCO-SAM pipeline: every non-crowd segment (47 of the sample's
    50; 3 are crowd) gets a point and a box, at 1024x1024."""
    from mmdet.registry import DATASETS
    from conftest import load_config
    cfg = load_config(R18_SAM)
    cfg.test_dataloader.dataset.update(coco_dataset(coco_root()))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    total = 0
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples']
        prompts, num = sample.prompt_instances, len(sample.gt_instances)
        assert len(prompts) == num and num % 2 == 0
        assert (prompts.point_labels[:num // 2, 0] == 1).all()
        assert prompts.box_valid[num // 2:].all()
        assert not prompts.box_valid[:num // 2].any()
        assert sample.pad_shape[:2] == (1024, 1024)
        assert max(sample.img_shape) == 1024
        total += num
    assert total == 2 * 47


@pytest.fixture(scope='module')
def ytvis_config(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ytvis')
    return tiny_config(
        'ytvis-2019', tmp, ytvis_dataset(davis_ytvis(tmp, max_frames=3)),
        dict(type='YouTubeVISCompatMetric',
             outfile_prefix=str(tmp / 'results')),
        scale=(320, 192))


def test_ytvis_2019(tool, checkpoint, ytvis_config, tmp_path):
    run = Run(tool, ytvis_config, checkpoint, tmp_path)
    rows, lines = run.test()
    check_table(rows, lines, [('video instance', k) for k in VIS])
    # 2 videos of 3 frames, in clips of 2 and 1 frames.
    assert run.saved['timing']['images'] == 6

    rows, _ = run.test(dict(predict=video_instance_oracle))
    got = values(rows, 'video instance')
    for key in ('segm_mAP', 'segm_mAP_50', 'segm_mAP_75'):
        assert got[key] == pytest.approx(100.), key


def test_ytvis_without_ground_truth_writes_the_submission(tmp_path):
    """No ground truth (YouTube-VIS valid): no mAP, the server zip is
    written atomically and listed in the table."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    from rap_sam.datasets.class_names import YTVIS2019
    from rap_sam.engine.hooks.benchmark_table_hook import benchmark_rows
    from rap_sam.evaluation import YouTubeVISCompatMetric
    prefix = tmp_path / 'sub' / 'results'
    metric = YouTubeVISCompatMetric(outfile_prefix=str(prefix))
    metric.dataset_meta = dict(classes=YTVIS2019.classes)
    frames = []
    for t in range(2):
        frame = DetDataSample(metainfo=dict(
            img_id=t + 1, video_id=1, frame_id=t, ori_shape=(6, 8),
            ori_video_length=2, video_length=2))
        masks = torch.zeros(1, 6, 8, dtype=torch.bool)
        masks[0, 1:4, 2:5] = True
        frame.pred_track_instances = InstanceData(
            masks=masks, scores=torch.tensor([0.9]),
            labels=torch.tensor([7]), instances_id=torch.tensor([0]),
            bboxes=torch.tensor([[2., 1., 5., 4.]]))
        frames.append(frame)
    metric.process({}, [dict(video_data_samples=frames)])
    assert metric.evaluate(1) == {}
    zip_file = f'{prefix}.submission_file.zip'
    assert metric.submission_file == zip_file
    with zipfile.ZipFile(zip_file) as zf:
        results = json.loads(zf.read('results.json'))
    assert [(r['video_id'], r['category_id']) for r in results] == [(1, 8)]
    assert not [p for p in (tmp_path / 'sub').iterdir()
                if p.name.startswith('.')]
    rows = benchmark_rows({}, [metric], 'YouTube-VIS 2019 valid', 1.)
    assert [(r['task'], r['metric'], r['value']) for r in rows] == [
        ('video instance', 'submission', zip_file)]


@pytest.fixture(scope='module')
def vipseg_config(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('vipseg')
    root = davis_vipseg(tmp, max_frames=3)
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


def test_vipseg_dataset_reads_the_panoptic_layout(vipseg_config):
    """Things first: the DAVIS dog is VIPSeg's 'dog' with instance id 1 on
    every frame, the rest 'ground' (stuff, id 0), the top band VOID."""
    from mmengine.config import Config
    from mmdet.evaluation.functional import INSTANCE_OFFSET
    from mmdet.registry import DATASETS
    cfg = Config.fromfile(vipseg_config)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    classes = dataset.metainfo['classes']
    assert classes == VIPSEG_THING_CLASSES + VIPSEG_STUFF_CLASSES
    assert len(dataset) == 2
    video = dataset[0]
    frames = video['data_samples'].video_data_samples
    assert video['inputs'].shape[:2] == (3, 3)
    dog = classes.index('dog') + INSTANCE_OFFSET
    for frame in frames:
        pan = frame.gt_panoptic_seg.sem_seg[0]
        assert pan.shape == (480, 854)  # the original size
        ground = classes.index('ground')
        assert set(pan.unique().tolist()) == {dog, ground, 255}
        assert (pan[:8] == 255).all()
    assert [f.frame_id for f in frames] == [0, 1, 2]


def test_vipseg(tool, checkpoint, vipseg_config, tmp_path):
    run = Run(tool, vipseg_config, checkpoint, tmp_path)
    rows, lines = run.test()
    check_table(rows, lines, [('video panoptic', k) for k in VPS])

    rows, _ = run.test(dict(predict=video_panoptic_oracle))
    got = values(rows, 'video panoptic')
    for key in VPS:
        assert got[key] == pytest.approx(100.), key


def test_video_panoptic_ids_are_stable():
    """The model's own video panoptic maps: one id per query slot on
    every frame (a thing keeps its id), VOID where nothing is kept."""
    from mmdet.evaluation.functional import INSTANCE_OFFSET
    from rap_sam.models.heads import RapSAMFusionHead
    fusion = RapSAMFusionHead(
        2, 1, test_cfg=dict(video_panoptic_on=True, filter_low_score=True))
    probs = torch.full((3, 4), 0.01)
    probs[0, 0] = probs[1, 2] = 0.97  # a thing (label 0), a stuff (2)
    probs[2, 3] = 0.97  # background: dropped
    logits = torch.full((3, 2, 4, 4), -10.)
    logits[0, :, :2] = 10.
    logits[1, :, 2:] = 10.
    meta = dict(batch_input_shape=(16, 16), img_shape=(16, 16),
                ori_shape=(8, 8))
    maps = [r['pan_results'].sem_seg[0]
            for r in fusion.predict_video(probs, logits, [meta, meta])]
    for pan in maps:
        assert set(np.unique(pan.numpy())) == {0 + 1 * INSTANCE_OFFSET, 2}
        assert pan.shape == (8, 8)
    assert torch.equal(maps[0], maps[1])
