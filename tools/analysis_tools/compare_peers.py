"""Real-time speed of RAP-SAM beside its peers, task by task.

Example (2-core CPU, R18 and R50, all peers)::

    python tools/analysis_tools/compare_peers.py \
        configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py \
        configs/rap_sam/rap-sam_r50_8xb2-12e_coco-panoptic.py \
        --threads 2 --repeat 5 --peer-repeat 3 --profile \
        --image ../shared/data/images/truck.jpg --out-dir outputs/benchmark

    # R18 in fp32, bf16 and int8 in one interleaved run, peers in fp32
    python tools/analysis_tools/compare_peers.py \
        configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py \
        --precisions fp32 bf16 int8 --peers m2f-r50 sam-vit-b mobile-sam \
        --threads 2 --repeat 7 --peer-repeat 5 --channels-last

    # CUDA: fp16 autocast, NHWC and torch.compile of the image encoders
    python tools/analysis_tools/compare_peers.py CONFIG --device cuda \
        --fp16 --channels-last --compile

Tasks (inputs in W x H; see ``rap_sam.benchmark.rap_sam_tasks``):

- panoptic at 1333x800 (padded to 1344x800): ``backbone``, ``features``
  (backbone + neck), ``panoptic`` (``model.predict`` with the fusion head,
  masks at the image size) and ``panoptic+prompts(10)`` (10 clicks in the
  same decoder pass);
- prompts at 1024x1024: ``prompts(k)`` (``set_image`` + k clicks) and
  ``re-prompt(k)`` (k clicks on an image already set), k = 1, 10, 100;
- video at 1280x736: ``video frame`` (one frame of a stream through
  ``VideoPredictor.step``: decoding + query linking) and ``image``
  (``set_image`` + ``panoptic()``, the same frame as an image).

With ``--precisions``, each config is built once per precision (rows
``RAP-SAM R18 fp32``, ``... bf16``, ``... int8``), every run under its
own precision, and the peers run once, in the precision of ``--fp16`` /
``--bf16`` / ``--int8`` (fp32 without). All of them alternate in the same
timing rounds, so one burst of load on a shared machine slows every
precision alike.

Peers, same run, same inputs, random weights (optional, skipped with the
reason when their package is absent): Mask2Former R50 / R18 panoptic,
Mask2Former-VIS R50 per frame, SAM ViT-B and MobileSAM. Each peer's
latency is printed as a ratio to RAP-SAM's on the same task, and the
issue's targets are checked.

Statistics: median and interquartile range of ``--repeat`` timed runs
after ``--warmup`` untimed ones, FPS = 1 / median. The timed runs go in
interleaved rounds (one run of every task of every model per round), so
that load from other processes on a shared machine hits all tasks alike.
FLOPs are counted on the first untimed run (torch's FlopCounterMode +
deformable convs); peak memory of the last untimed run above what it
started with (CPU: sampled RSS growth, which misses memory the allocator
reuses; CUDA: ``torch.cuda.max_memory_allocated``); int8 FLOPs are not
counted (the backbone runs in ONNX Runtime). Weights are random
(speed does not depend on them; post-processing does, through the number
of segments kept: Mask2Former R50 kept 34 instances in 7.7 s or 89 in
10.7 s for two draws), each model's drawn from ``--seed`` afresh, so that
its weights do not depend on which models are built before it.

Writes ``benchmark.json``, ``benchmark.md`` and ``benchmark.png`` to
``--out-dir`` (and ``benchmark.partial.json`` after each timing round).
"""
import argparse
import os
import os.path as osp
import platform
import sys
import time
from typing import Dict, List, Tuple

import torch
from mmengine.config import DictAction

from rap_sam.benchmark import (PEERS, PeerUnavailable, RunOptions, bar_chart,
                               breakdown_table, build_peer, check_targets,
                               compare_deform_impls, det_inputs,
                               efficiency_table, gemm_peaks, load_image,
                               markdown_table, measure_tasks, model_info,
                               peer_ratios, profile_breakdown, rap_sam_tasks,
                               ratio_table, target_table, write_json)
from rap_sam.benchmark.tasks import PANOPTIC_SHAPE, PROMPT_SHAPE, VIDEO_SHAPE
from rap_sam.inference import (build_model, keep_freed_memory,
                               quantize_model)
from rap_sam.inference.precision import PRECISIONS, bf16_speedup, cpu_info

BACKBONE_LABELS = {
    'r18': 'R18', 'r50': 'R50', 'stdc1': 'STDC1', 'seaformer-l': 'SeaFormer-L'
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='RAP-SAM speed benchmark beside its peers')
    parser.add_argument('configs', nargs='+', help='RAP-SAM config files')
    parser.add_argument('--labels', nargs='*', help='row label per config')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch default)')
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument('--fp16', action='store_true',
                           help='fp16 autocast (CUDA)')
    precision.add_argument('--int8', action='store_true',
                           help='RAP-SAM in int8 (quantize_model: the '
                           'backbone through ONNX Runtime, calibrated on the '
                           'benchmark images, and the decoder\'s products '
                           'with the map), the rest and the peers in bf16 '
                           'where the CPU runs it faster than fp32, else '
                           'fp32 (CPU with VNNI)')
    precision.add_argument('--bf16', action='store_true',
                           help='bf16 autocast (CUDA, or a CPU with native '
                           'bf16: AVX512-BF16 / AMX)')
    parser.add_argument('--precisions', nargs='+', choices=PRECISIONS,
                        help='RAP-SAM in each of these precisions, one row '
                        'per precision, in the same timing rounds (default: '
                        'the precision of the flags above); the peers keep '
                        'the flags\' precision')
    parser.add_argument('--channels-last', action='store_true',
                        help='NHWC models and inputs')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile the image encoders')
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--peer-repeat', type=int, default=None,
                        help='timed runs of peers (default: --repeat)')
    parser.add_argument('--prompts', type=int, nargs='+', default=[1, 10, 100])
    parser.add_argument('--tasks', nargs='*',
                        help='only these task names (e.g. panoptic '
                        're-prompt(10)); default all')
    parser.add_argument('--peers', nargs='*', default=list(PEERS),
                        help=f'peers to run, from {PEERS}; none: --peers')
    parser.add_argument('--peer-set-image-prompts', type=int, nargs='+',
                        default=[10], help='k of the peers\' set_image + k '
                        'clicks tasks')
    parser.add_argument('--baseline', action='store_true',
                        help='also run each config without this '
                        'project\'s inference optimisations (mmdet fusion '
                        'head on full-size masks, no pixel K/V cache)')
    parser.add_argument('--no-flops', action='store_true')
    parser.add_argument(
        '--seed', type=int, default=0,
        help='seed of every model\'s random weights, drawn afresh for each '
        'model: a model keeps its weights (and the number of segments its '
        'post-processing keeps, which its speed depends on) whichever '
        'other models are in the run')
    parser.add_argument(
        '--release-memory', action='store_true',
        help="glibc's default of returning freed heap to the kernel; by "
        'default every model runs with freed memory kept mapped '
        '(keep_freed_memory), as the demos do')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides of the RAP-SAM configs, e.g. '
                        'model.neck.deform_impl=grid_sample')
    parser.add_argument('--profile', action='store_true',
                        help='torch.profiler breakdown of panoptic + 10 '
                        'clicks at 1344x800 and the deform conv kernels')
    parser.add_argument('--image', default=None,
                        help='image resized to each input (default: '
                        'synthetic)')
    parser.add_argument('--out-dir', default='outputs/benchmark')
    return parser.parse_args()


def default_label(config: str) -> str:
    name = osp.basename(config)
    for key, label in BACKBONE_LABELS.items():
        if f'_{key}_' in name:
            return f'RAP-SAM {label}'
    return f'RAP-SAM {osp.splitext(name)[0]}'


def cpu_description() -> str:
    """CPU model and the instruction sets the precisions use."""
    name, flags = cpu_info()
    wanted = ('avx2', 'avx512f', 'avx512_bf16', 'avx512_vnni', 'amx_bf16',
              'amx_int8')
    name = name or platform.processor() or 'unknown CPU'
    return f"{name} ({' '.join(f for f in wanted if f in flags)})"


def keep(task, names) -> bool:
    return not names or task.name in names


def build_rap_sam(config: str, label: str, opts: RunOptions,
                  args: argparse.Namespace, baseline: bool) -> Tuple:
    """A RAP-SAM model, its tasks (filtered by ``--tasks``) and params;
    its random weights drawn from ``--seed``."""
    options = dict(args.cfg_options or {})
    if baseline:
        options.update({
            'model.panoptic_fusion_head.full_resolution': True
        })
    torch.manual_seed(args.seed)
    model = build_model(config, None, 'cpu', random_weights=True,
                        cfg_options=options)
    model = opts.prepare(model, ['backbone', 'neck'])
    info = model_info(model)
    if opts.dtype == 'int8':
        quantize_model(model, [
            det_inputs(model, load_image(shape, args.image), opts)[0]
            for shape in (PANOPTIC_SHAPE, PROMPT_SHAPE, VIDEO_SHAPE)
        ])
    print(f'== {label}: {info["params_m"]:.2f}M params (backbone '
          f'{info.get("backbone_params_m", 0):.2f}M)', flush=True)
    tasks = [
        t for t in rap_sam_tasks(model, label, opts, args.prompts,
                                 args.image, cache_prompt_kv=not baseline)
        if keep(t, args.tasks)
    ]
    return model, tasks, info


def profile_model(model, label: str, opts: RunOptions,
                  args: argparse.Namespace, report: Dict) -> None:
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    from rap_sam.benchmark import point_prompts
    x, meta = det_inputs(model, load_image(PANOPTIC_SHAPE, args.image), opts)

    def one_pass():
        sample = DetDataSample(metainfo=meta)
        sample.prompt_instances = InstanceData(
            points=torch.from_numpy(point_prompts(10, PANOPTIC_SHAPE)),
            point_labels=torch.ones(10, 1, dtype=torch.long))
        return model.predict(x, [sample])

    with opts.context():
        result = profile_breakdown(model, one_pass)
        deform = compare_deform_impls(model, x)
    print(f'\n-- profile of {label}, panoptic + 10 clicks at 1344x800')
    print(breakdown_table(result))
    print(result['ops'])
    print('deformable conv kernels (whole neck): ' + ', '.join(
        f"{k} {v['median_ms']:.0f} ms (max diff {v['max_abs_diff']:.1e})"
        for k, v in deform.items()))
    report.setdefault('profiles', {})[label] = dict(
        total_ms=result['total_ms'], sections=result['sections'],
        ops=result['ops'], deform_impls=deform)


def print_row(row: Dict) -> None:
    print(f"{row['model']:>22s} | {row['key']:<30s} "
          f"{row['median_s'] * 1e3:9.1f} ms (IQR {row['iqr_s'] * 1e3:6.1f})"
          f" {row['gflops']:8.1f} GFLOPs  peak {row['peak_mb']:7.0f} MB",
          flush=True)


def build_peers(opts: RunOptions, args: argparse.Namespace,
                skipped: Dict[str, str]) -> List[Tuple]:
    """(model, tasks, params) of each available peer, its random weights
    drawn from ``--seed``."""
    built = []
    for name in args.peers:
        try:
            torch.manual_seed(args.seed)
            tasks, model = build_peer(name, opts, args.prompts,
                                      args.peer_set_image_prompts,
                                      args.image)
        except PeerUnavailable as e:
            skipped[name] = str(e)
            print(f'== skipping peer {name}: {e}', flush=True)
            continue
        info = model_info(model)
        print(f'== {tasks[0].model}: {info["params_m"]:.2f}M params',
              flush=True)
        built.append((model, tasks, info))
    return built


def print_warmup(row: Dict) -> None:
    print(f"warm-up {row['model']:>24s} | {row['key']:<30s} "
          f"{row['gflops']:8.1f} GFLOPs  peak {row['peak_mb']:7.0f} MB",
          flush=True)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    kept = False if args.release_memory else keep_freed_memory()
    dtype = 'fp16' if args.fp16 else 'bf16' if args.bf16 else \
        'int8' if args.int8 else 'fp32'
    opts = RunOptions(args.device, dtype, args.channels_last, args.compile)
    precisions = list(dict.fromkeys(args.precisions or [dtype]))
    rap_opts = {
        p: opts if p == dtype else RunOptions(args.device, p,
                                              args.channels_last,
                                              args.compile)
        for p in precisions
    }
    labels = args.labels or [default_label(c) for c in args.configs]
    if len(labels) != len(args.configs):
        sys.exit('--labels needs one label per config')
    os.makedirs(args.out_dir, exist_ok=True)
    report: Dict = {}
    if opts.device_type == 'cpu':
        report['gemm_peaks'] = gemm_peaks()
        print('GEMM peaks (GFLOP/s): ' + ', '.join(
            f'{k} {v:.0f}' for k, v in report['gemm_peaks'].items()))
    start = time.time()
    rap_models, built, model_precision = [], [], {}
    for config, base_label in zip(args.configs, labels):
        for precision, run_opts in rap_opts.items():
            label = base_label if len(precisions) == 1 else \
                f'{base_label} {precision}'
            built.append((label, False) +
                         build_rap_sam(config, label, run_opts, args, False))
            rap_models.append(label)
            model_precision[label] = precision
            if args.baseline:
                built.append((f'{label} baseline', True) + build_rap_sam(
                    config, f'{label} baseline', run_opts, args, True))
    skipped: Dict[str, str] = {}
    peers = build_peers(opts, args, skipped)
    built += [(None, False) + peer for peer in peers]
    tasks, repeats, infos = [], [], []
    for label, _, _, model_tasks, info in built:
        tasks += model_tasks
        infos += [info] * len(model_tasks)
        repeats += [args.repeat if label else args.peer_repeat or
                    args.repeat] * len(model_tasks)
    print(f'\n{len(tasks)} tasks: warm-up, then {max(repeats, default=0)} '
          'interleaved timing rounds', flush=True)

    def save_round(r: int, partial: List[Dict]) -> None:
        print(f'timing round {r + 1} done ({time.time() - start:.0f} s)',
              flush=True)
        write_json(osp.join(args.out_dir, 'benchmark.partial.json'),
                   rounds_done=r + 1, rows=partial)

    rows = measure_tasks(tasks, opts, warmup=args.warmup,
                         flops=not args.no_flops, repeats=repeats,
                         on_row=print_warmup, on_round=save_round)
    for row, info in zip(rows, infos):
        row.update(info)
    print()
    for row in rows:
        print_row(row)
    if args.profile and opts.device_type == 'cpu':
        for label, baseline, model, _, _ in built:
            if label and not baseline:
                profile_model(model, label,
                              rap_opts[model_precision[label]], args, report)

    ratios = peer_ratios(rows, rap_models)
    targets = check_targets(rows, rap_models)
    precision_text = dtype if precisions == [dtype] else \
        f"RAP-SAM {' / '.join(precisions)}, peers {dtype}"
    setting = (f'{cpu_description()}; device {opts.device}, '
               f'{precision_text}, threads {torch.get_num_threads()}, '
               'freed memory '
               f"{'kept' if kept else 'released'}, channels_last "
               f'{opts.channels_last}, compile {opts.compile}, repeat '
               f'{args.repeat} (peers {args.peer_repeat or args.repeat}), '
               f'warmup {args.warmup}, random weights')
    if args.cfg_options:
        setting += f', RAP-SAM cfg-options {args.cfg_options}'
    if opts.device_type == 'cpu' and {'bf16', 'int8'} & {dtype, *precisions}:
        setting += (f'; bf16 convolutions {bf16_speedup():.2f}x as fast as '
                    'fp32')
    if 'gemm_peaks' in report:
        peaks = report['gemm_peaks']
        setting += ('; GEMM peak GFLOP/s: ' + ', '.join(
            f'{k} {v:.0f}' for k, v in peaks.items()
            if k not in ('fp32', 'bf16')))
    md = [f'Setting: {setting}.', '', markdown_table(rows), '',
          'Peer latency / RAP-SAM latency on the same task (above 1: '
          'RAP-SAM is faster):', '', ratio_table(ratios, rap_models), '',
          'Targets:', '', target_table(targets)]
    if 'gemm_peaks' in report and not args.no_flops:
        tables = []
        for precision in ('fp32', 'bf16'):
            models = [m for m in rap_models if model_precision[m] == precision]
            if models:
                tables += ['', efficiency_table(
                    rows, models, report['gemm_peaks'][precision], precision)]
        if tables:
            md += ['', 'Effective speed (FLOPs / median latency) against the '
                   'GEMM peak of the precision (the faster of torch.mm and '
                   'oneDNN):', *tables]
    if skipped:
        md += [''] + [f'Skipped {k}: {v}' for k, v in skipped.items()]
    for label, prof in report.get('profiles', {}).items():
        md += ['', f'Profile of {label}, panoptic + 10 clicks at 1344x800:',
               '', breakdown_table(prof)]
    text = '\n'.join(md)
    print('\n' + text)
    with open(osp.join(args.out_dir, 'benchmark.md'), 'w') as f:
        f.write(text + '\n')
    write_json(
        osp.join(args.out_dir, 'benchmark.json'),
        setting=setting,
        configs=args.configs,
        torch=torch.__version__,
        platform=platform.platform(),
        processor=platform.processor(),
        threads=torch.get_num_threads(),
        device_name=torch.cuda.get_device_name(opts.device)
        if opts.device_type == 'cuda' else platform.processor(),
        wall_s=time.time() - start,
        rows=rows,
        ratios=ratios,
        targets=targets,
        skipped=skipped,
        **report)
    bar_chart(rows, osp.join(args.out_dir, 'benchmark.png'), setting)
    print(f'\nwrote {args.out_dir}/benchmark.{{json,md,png}}')


if __name__ == '__main__':
    main()
