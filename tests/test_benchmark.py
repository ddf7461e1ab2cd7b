"""The speed benchmark's library: measuring, tasks, peers and reports."""
import json
import time

import pytest
import torch

from rap_sam import benchmark
from rap_sam.benchmark import tasks as task_module
from rap_sam.benchmark.peers import PeerUnavailable, build_peer

R18 = 'configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py'


@pytest.fixture()
def tiny_shapes(monkeypatch):
    """Shrink every task's input (the real ones take seconds per run)."""
    for name, shape in (('PANOPTIC_SHAPE', (64, 90)), ('PROMPT_SHAPE',
                                                       (64, 64)),
                        ('VIDEO_SHAPE', (64, 96))):
        monkeypatch.setattr(task_module, name, shape)
    monkeypatch.setattr('rap_sam.benchmark.peers.PANOPTIC_SHAPE', (64, 90))
    monkeypatch.setattr('rap_sam.benchmark.peers.VIDEO_SHAPE', (64, 96))


def test_summarize_median_iqr_fps():
    stats = benchmark.summarize([0.1, 0.2, 0.3, 0.4, 0.5])
    assert stats['median_s'] == pytest.approx(0.3)
    assert stats['iqr_s'] == pytest.approx(0.2)
    assert stats['fps'] == pytest.approx(1 / 0.3)
    assert benchmark.summarize([0.5])['iqr_s'] == 0


def test_peak_memory_sees_a_large_cpu_allocation():
    with benchmark.PeakMemory('cpu', interval=1e-4) as mem:
        x = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        x.add_(1)
        # held while the sampling thread gets the GIL (the work it measures
        # lasts many intervals)
        time.sleep(0.05)
        del x
    assert mem.peak_mb > 32


def test_peak_memory_sees_allocations_from_kept_memory():
    # keep_freed_memory (the benchmark's setting) keeps 64 MiB of freed
    # blocks in the heap: a 16 MiB tensor taken from them adds no resident
    # memory (RSS sampling read 1.7 MiB), but it is still 16 MiB of tensor.
    from rap_sam.utils import keep_freed_memory
    keep_freed_memory()
    blocks = [torch.ones(16 * 2**20 // 4) for _ in range(4)]
    del blocks
    with benchmark.PeakMemory('cpu', interval=1e-4) as mem:
        x = torch.ones(16 * 2**20 // 4)
        x.add_(1)
        time.sleep(0.01)
        del x
    assert mem.peak_mb > 12


def test_flops_count_the_deformable_convs():
    from rap_sam.models.layers import ModulatedDeformConv2d
    conv = ModulatedDeformConv2d(8, 4).eval()
    x = torch.randn(1, 8, 5, 6)
    with torch.no_grad():
        flops = benchmark.count_flops(lambda: conv(x), [conv])
    offsets = 2 * 30 * 27 * 8 * 9
    deform = 2 * 30 * 4 * 8 * 9
    assert flops == offsets + deform


def test_rap_sam_tasks_run(tiny_shapes):
    from conftest import REPO
    from rap_sam.inference import build_model
    torch.manual_seed(0)
    opts = benchmark.RunOptions()
    model = opts.prepare(
        build_model(str(REPO / R18), random_weights=True), ['backbone'])
    tasks = benchmark.rap_sam_tasks(model, 'RAP-SAM R18', opts, [1, 3])
    names = [t.name for t in tasks]
    assert names == [
        'backbone', 'features', 'panoptic', 'panoptic+prompts(10)',
        'prompts(1)', 'prompts(3)', 're-prompt(1)', 're-prompt(3)', 'image',
        'video frame'
    ]
    row = benchmark.measure_task(tasks[6], opts, repeat=2, warmup=1)
    assert row['key'] == 're-prompt(1)@64x64' and row['runs'] == 2
    assert row['gflops'] > 0 and row['median_s'] > 0
    with opts.context():
        for task in tasks:
            task.fn()


def test_mask2former_peer_runs(tiny_shapes):
    try:
        tasks, model = build_peer('m2f-r18', benchmark.RunOptions())
    except PeerUnavailable as e:
        pytest.skip(str(e))
    assert tasks[0].model == 'Mask2Former R18'
    with torch.no_grad():
        result = tasks[0].fn()
    assert result[0].pred_panoptic_seg.sem_seg.shape[-2:] == (64, 90)


def test_reports(tmp_path):
    def row(model, task, seconds, compare_to=None):
        return dict(model=model, task=task.split('@')[0], key=task,
                    shape=[800, 1333], compare_to=compare_to, note='',
                    median_s=seconds, iqr_s=seconds / 10, fps=1 / seconds,
                    gflops=1., peak_mb=1., params_m=1.)

    rows = [
        row('RAP-SAM R18', 'backbone@800x1333', 1.),
        row('RAP-SAM R18', 'panoptic@800x1333', 1.5),
        row('RAP-SAM R18', 'panoptic+prompts(10)@800x1333', 2.),
        row('Mask2Former R50', 'panoptic@800x1333', 30.),
        row('SAM ViT-B', 'prompts(10)@800x1333', 10.,
            'panoptic+prompts(10)@800x1333'),
    ]
    ratios = benchmark.peer_ratios(rows, ['RAP-SAM R18'])
    assert [r['ratios']['RAP-SAM R18'] for r in ratios] == [20., 5.]
    targets = {
        t['target']: t
        for t in benchmark.check_targets(rows, ['RAP-SAM R18'])
    }
    assert targets['whole model (panoptic) / backbone']['met']
    assert targets['panoptic+10 clicks / Mask2Former-R50 panoptic'][
        'value'] == pytest.approx(2 / 30)
    assert not targets['panoptic+10 clicks / SAM ViT-B 10 clicks']['met']
    assert targets['re-prompt 10 clicks (ms)']['met'] is None
    table = benchmark.target_table(
        benchmark.check_targets(rows, ['RAP-SAM R18', 'RAP-SAM R18 int8']))
    assert table.splitlines()[0] == \
        '| target | limit | RAP-SAM R18 | RAP-SAM R18 int8 |'
    assert '| whole model (panoptic) / backbone | 1.6 | 1.50 (met) | - |' \
        in table
    assert '| panoptic+10 clicks / SAM ViT-B 10 clicks | 0.1 | 0.20 (not ' \
        'met) | - |' in table
    assert '| RAP-SAM R18 | panoptic |' in benchmark.markdown_table(rows)
    assert '20.00x' in benchmark.ratio_table(ratios, ['RAP-SAM R18'])
    benchmark.bar_chart(rows, str(tmp_path / 'chart.png'), 'test')
    assert (tmp_path / 'chart.png').stat().st_size > 1000
    benchmark.write_json(str(tmp_path / 'out.json'), rows=rows)
    assert json.loads((tmp_path / 'out.json').read_text())['rows']


def test_gemm_peaks_measure_every_path():
    peaks = benchmark.gemm_peaks(size=128, repeat=2)
    paths = [k for k in peaks if ' ' in k]
    assert 'fp32 torch.mm' in paths and 'bf16 torch.mm' in paths
    assert all(peaks[k] > 0 for k in peaks)
    assert peaks['fp32'] == max(peaks[k] for k in paths
                                if k.startswith('fp32'))
    assert peaks['bf16'] == peaks['bf16 torch.mm']
    if hasattr(torch, '_int_mm'):
        assert peaks['int8'] == peaks['int8 torch._int_mm']


def test_efficiency_table_divides_flops_by_latency_and_peak():
    rows = [
        dict(model='R18', task='panoptic', gflops=100., median_s=0.5),
        dict(model='R18', task='video', gflops=None, median_s=0.1),
        dict(model='M2F', task='panoptic', gflops=500., median_s=5.),
    ]
    table = benchmark.efficiency_table(rows, ['R18'], 400., 'fp32')
    assert '% of the fp32 peak (400)' in table
    assert '| R18 | panoptic | 100.0 | 200 | 50 % |' in table
    assert 'video' not in table and 'M2F' not in table


@pytest.mark.parametrize('kernel', ['torch', 'onednn', 'packed'])
def test_flops_count_the_decoder_products(kernel):
    from rap_sam.models.heads import PixelFeatures
    features, queries = torch.randn(1, 16, 8, 12), torch.randn(1, 5, 16)
    pixels = PixelFeatures(features, kernel)
    expected = 2 * 5 * 16 * 8 * 12
    assert benchmark.count_flops(lambda: pixels.mask_logits(queries)) == \
        expected
    masks = torch.randn(1, 5, 8, 12)
    assert benchmark.count_flops(lambda: pixels.pool(masks)) == expected


def test_profile_training_breaks_an_iteration_down_and_cleans_up():
    import logging

    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper

    from conftest import REPO
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    from rap_sam.inference import use_random_embeddings
    torch.manual_seed(0)
    cfg = use_random_embeddings(Config.fromfile(
        str(REPO / 'configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py')))
    cfg.model.data_preprocessor.batch_augments = None
    model = MODELS.build(cfg.model).train()
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    logger.setLevel(level)
    head = model.panoptic_head
    data = demo_mm_inputs(1, [(3, 64, 96)], [2], head.num_things_classes,
                          with_mask=True, with_semantic=True)
    for s in data['data_samples']:
        s.gt_sem_seg.sem_seg = s.gt_sem_seg.sem_seg % head.num_classes
    before = {k: v.clone() for k, v in model.state_dict().items()}

    result = benchmark.profile_training(model, optim_wrapper, data, iters=2)

    sections = result['sections']
    for part in ('data preprocessor', 'backbone', 'neck', 'decoder stages',
                 'object adapter', 'losses', 'backward', 'optimizer step'):
        assert sections[part] > 0, part
    assert list(sections)[:-1] == [
        k for k in benchmark.TRAINING_SECTIONS if k in sections]
    named = sum(v for k, v in sections.items() if k != 'other')
    assert named <= result['total_ms'] * 1.05  # parts do not overlap
    assert sections['other'] >= 0 and 'aten::' in result['ops']
    # it trained: three iterations changed the weights
    assert any(not torch.equal(before[k], v)
               for k, v in model.state_dict().items())
    # nothing of the profiling is left on the model or the wrapper
    for attr in ('loss_by_feat', ):
        assert attr not in vars(head)
    for attr in ('backward', 'step', 'zero_grad'):
        assert attr not in vars(optim_wrapper)
    assert not any(m._forward_hooks or m._forward_pre_hooks
                   for m in model.modules())


def _precision_or_skip(dtype):
    try:
        return benchmark.RunOptions('cpu', dtype)
    except ValueError as e:
        pytest.skip(f'{dtype} cannot run on this machine: {e}')


def test_measure_tasks_run_each_task_in_its_own_precision():
    # compare_peers --precisions: one run, each RAP-SAM model's tasks under
    # their own autocast, the rest under the run's options
    bf16 = _precision_or_skip('bf16')
    seen = {}
    linear = torch.nn.Linear(8, 8)
    x = torch.randn(4, 8)

    def task(name, opts=None):
        def fn():
            seen.setdefault(name, set()).add(
                (torch.is_autocast_enabled('cpu'), torch.is_grad_enabled(),
                 linear(x).dtype))
        return benchmark.Task(name, 'matmul', (4, 8), fn, opts=opts)

    rows = benchmark.measure_tasks(
        [task('bf16', bf16), task('run')], benchmark.RunOptions(), repeat=3)
    assert seen['bf16'] == {(True, False, torch.bfloat16)}
    assert seen['run'] == {(False, False, torch.float32)}
    assert [r['precision'] for r in rows] == ['bf16', 'fp32']
    assert rows[0]['gflops'] == rows[1]['gflops'] == 2 * 4 * 8 * 8 / 1e9
    assert [r['runs'] for r in rows] == [3, 3]


def test_int8_tasks_have_no_flop_count():
    # the int8 backbone runs in ONNX Runtime, which the counter cannot see
    int8 = _precision_or_skip('int8')
    linear = torch.nn.Linear(8, 8)
    x = torch.randn(4, 8)
    rows = benchmark.measure_tasks([
        benchmark.Task('m', 'matmul', (4, 8), lambda: linear(x), opts=int8),
        benchmark.Task('m', 'matmul', (4, 8), lambda: linear(x)),
    ], benchmark.RunOptions(), repeat=1)
    assert rows[0]['precision'] == 'int8' and rows[0]['gflops'] != \
        rows[0]['gflops']  # NaN
    assert rows[1]['gflops'] > 0


def _load_compare_peers():
    import importlib.util

    from conftest import REPO
    spec = importlib.util.spec_from_file_location(
        'compare_peers', REPO / 'tools/analysis_tools/compare_peers.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_compare_peers_draws_each_model_from_the_seed(tiny_shapes):
    # a model's random weights (and so the segments its post-processing
    # keeps, which its speed depends on) must not depend on the models
    # built before it in the run
    import argparse

    from conftest import REPO
    tool = _load_compare_peers()
    args = argparse.Namespace(cfg_options=None, image=None, prompts=[1],
                              tasks=['backbone'], seed=3)
    opts = benchmark.RunOptions()
    first = tool.build_rap_sam(str(REPO / R18), 'a', opts, args, False)[0]
    torch.rand(1000)
    second = tool.build_rap_sam(str(REPO / R18), 'b', opts, args, False)[0]
    for (name, a), b in zip(first.state_dict().items(),
                            second.state_dict().values()):
        assert torch.equal(a, b), name
    args.seed = 4
    third = tool.build_rap_sam(str(REPO / R18), 'c', opts, args, False)[0]
    assert not torch.equal(first.neck.output_conv.weight,
                           third.neck.output_conv.weight)


def test_compare_peers_runs_every_precision_in_one_run(tiny_shapes, tmp_path,
                                                       monkeypatch):
    import sys

    from conftest import REPO
    _precision_or_skip('bf16')
    tool = _load_compare_peers()
    monkeypatch.setattr(tool, 'PANOPTIC_SHAPE', (64, 90))
    monkeypatch.setattr(sys, 'argv', [
        'compare_peers.py', str(REPO / R18), '--precisions', 'fp32', 'bf16',
        '--peers', '--tasks', 'backbone', 'panoptic', '--repeat', '2',
        '--out-dir', str(tmp_path)
    ])
    tool.main()
    report = json.loads((tmp_path / 'benchmark.json').read_text())
    assert [(r['model'], r['task'], r['precision'], r['runs'])
            for r in report['rows']] == [
                ('RAP-SAM R18 fp32', 'backbone', 'fp32', 2),
                ('RAP-SAM R18 fp32', 'panoptic', 'fp32', 2),
                ('RAP-SAM R18 bf16', 'backbone', 'bf16', 2),
                ('RAP-SAM R18 bf16', 'panoptic', 'bf16', 2)]
    assert 'RAP-SAM fp32 / bf16, peers fp32' in report['setting']
    md = (tmp_path / 'benchmark.md').read_text()
    assert '| target | limit | RAP-SAM R18 fp32 | RAP-SAM R18 bf16 |' in md
    assert '% of the fp32 peak' in md and '% of the bf16 peak' in md
    assert (tmp_path / 'benchmark.png').stat().st_size > 1000
