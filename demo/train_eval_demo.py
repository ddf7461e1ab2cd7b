"""The main job: train RAP-SAM on built-in data, evaluate, visualise.

Runs on a CPU with nothing downloaded (``make demo``):

1. data: the real samples of ``../shared/data`` (2 COCO panoptic images,
   DAVIS-2016 clips converted to YouTube-VIS), or a synthetic dataset when
   they are absent;
2. class embeddings of the vocabularies: CLIP text embeddings with a
   local open_clip checkpoint (``--clip-checkpoint``); none can be
   downloaded here, so by default each class name gets a seeded random
   vector (fixed prototypes, like an untrained text tower's);
3. joint training of a small RAP-SAM R18 (one task per batch: COCO as
   2-frame pseudo videos, DAVIS clips, SAM-style prompts) with the joint
   config's pipelines at a small size, under a time budget;
4. PQ on the COCO images, VIS mAP on the clips, 1-click prompt mIoU;
5. PNGs: panoptic overlays, prompt masks, a tracked video strip, loss
   curves.

Example::

    python demo/train_eval_demo.py --minutes 15 --work-dir outputs/demo
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from rap_sam.datasets.class_names import (COCO_PANOPTIC_NUM_THINGS,
                                          canonical_text, get_vocabulary)
from rap_sam.datasets.demo_data import DemoData, prepare_demo_data
from rap_sam.datasets.pipeline_utils import resize_pipeline
from rap_sam.evaluation.quick_eval import (evaluate_box_prompts,
                                           evaluate_panoptic,
                                           evaluate_point_prompts,
                                           evaluate_video_instances)
from rap_sam.utils import dump_json_atomic, write_image_atomic
from rap_sam.utils.visualization import overlay_masks, overlay_panoptic
from rap_sam.models.utils.class_embeddings import save_class_embeddings

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
JOINT_CONFIG = osp.join(REPO, 'configs/rap_sam/'
                        'rap-sam_r18_8xb2-12e_coco-ytvis-sam.py')
VOCABS = ('coco_ytvis2019', 'coco_panoptic', 'ytvis2019')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='outputs/demo')
    parser.add_argument('--shared-data',
                        default=osp.join(REPO, '..', 'shared', 'data'))
    parser.add_argument('--synthetic', action='store_true',
                        help='use generated data even if real data exists')
    parser.add_argument('--minutes', type=float, default=15.0,
                        help='training time budget, a bound for slow '
                        'machines: --iters take 6-7 min on an AMD EPYC and '
                        '10-11 min on an Intel Xeon without AMX (2 cores), '
                        'and a run cut short scores lower')
    parser.add_argument('--iters', type=int, default=920,
                        help='iterations, and the length of the cosine '
                        'schedule')
    parser.add_argument('--size', type=int, nargs=2, default=[192, 288],
                        metavar=('H', 'W'), help='training and test size')
    parser.add_argument('--lr', type=float, default=2e-4)
    parser.add_argument('--clip-model', default='ViT-S-32-alt')
    parser.add_argument('--clip-checkpoint',
                        help='local open_clip checkpoint of --clip-model')
    parser.add_argument(
        '--clip-random-weights', action='store_true',
        help='encode class names with a randomly initialised text tower '
        '(slow, and no more meaningful than random vectors)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument(
        '--deform-impl', default='auto',
        choices=['auto', 'torchvision', 'grid_sample'],
        help='deformable conv kernel of the neck (grid_sample trains faster '
        'on a CPU)')
    parser.add_argument('--num-points', type=int, default=2048,
                        help='points sampled per mask for the losses')
    parser.add_argument('--seed', type=int, default=0)
    recipe = parser.add_argument_group(
        'recipe', 'how the demo fits its own samples (defaults measured, '
        'see the README)')
    recipe.add_argument('--num-prompts', type=int, default=30,
                        help='prompts per prompt image (official: 30)')
    recipe.add_argument('--box-prob', type=float, default=0.5,
                        help='share of box prompts (official: 0, clicks '
                        'only; the demo scores boxes too)')
    recipe.add_argument('--repeat-factors', type=float, nargs=3,
                        default=[1., 1., 2.],
                        metavar=('COCO_VIDEO', 'VIDEO', 'PROMPT'),
                        help='samples per epoch of each source, as a '
                        'multiple of its size')
    recipe.add_argument('--jitter', type=float, nargs=2,
                        default=[1., 1.], metavar=('MIN', 'MAX'),
                        help='scale jitter of the training size')
    recipe.add_argument('--prompt-prior', type=int, default=1,
                        choices=[0, 1],
                        help='first pooling of prompts in their box / click '
                        'windows (1) or under their dot-product mask (0, '
                        'official)')
    recipe.add_argument('--grad-clip', type=float, default=0.01,
                        help='max gradient norm (official: 0.01); 0 for '
                        'none')
    recipe.add_argument('--cls-temperature', type=float, default=1.,
                        help='temperature of the stage class logits '
                        '(official: 0.1)')
    return parser.parse_args(argv)


def build_embeddings(out_dir: str, model: str, checkpoint,
                     random_vectors: bool = False) -> dict:
    """One embedding file per vocabulary, same text encoder and seed.

    With ``random_vectors``, each synonym text gets a seeded random vector
    (the same text, the same vector in every file, as a text encoder would
    give) instead of text features.
    """
    sys.path.insert(0, osp.join(REPO, 'tools'))
    from build_text_embeddings import main as build
    files = {}
    for vocab in VOCABS:
        path = osp.join(out_dir, f'{vocab}_{model}.pth')
        if random_vectors:
            path = osp.join(out_dir, f'{vocab}_random_synonyms.pth')
            if not osp.exists(path):
                save_random_embeddings(path, get_vocabulary(vocab))
        elif not osp.exists(path):
            weights = ['--checkpoint', checkpoint] if checkpoint else \
                ['--random-weights']
            build(['--vocab', vocab, '--model', model, '--out', path,
                   '--seed', '0', *weights])
        files[vocab] = path
    return files


def save_random_embeddings(path: str, vocab, dims: int = 64) -> None:
    """Seeded random unit vectors per synonym text of each class.

    A vector depends only on its text, so a class keeps its vectors across
    vocabularies (YouTube-VIS ``sedan`` and the merged ``car``, which lists
    ``sedan`` among its synonyms, share one), as CLIP text features would.
    Classes with fewer synonyms repeat their last one (the classifier takes
    the max over synonyms).
    """
    import zlib
    width = max(len(syns) for syns in vocab.synonyms)
    rows = []
    for syns in vocab.synonyms:
        vectors = [
            torch.randn(dims, generator=torch.Generator().manual_seed(
                zlib.crc32(canonical_text(text).encode()))) for text in syns
        ]
        vectors += [vectors[-1]] * (width - len(vectors))
        rows.append(torch.stack(vectors))
    save_class_embeddings(path, torch.stack(rows), list(vocab.classes),
                          'random', 'random', ['{}'])


def demo_config(data: DemoData, embeddings: dict, args) -> Config:
    """The joint R18 config, on the demo data, small and quick."""
    cfg = Config.fromfile(JOINT_CONFIG)
    size = tuple(args.size)
    cfg.work_dir = args.work_dir
    cfg.randomness = dict(seed=args.seed)
    head = cfg.model.panoptic_head
    head.classifier.embedding_file = embeddings['coco_ytvis2019']
    head.classifier.embed_dims = None  # the text tower's
    # Predictions of the saved config (tools/test.py, export) use COCO
    # panoptic's classes, as the joint config's test classifier does.
    head.test_classifier = dict(
        type='OpenVocabClassifier', embedding_file=embeddings['coco_panoptic'],
        embed_dims=None)
    # From scratch: no ImageNet weights can be fetched here.
    cfg.model.backbone.init_cfg = None
    cfg.model.train_cfg.num_points = args.num_points
    cfg.model.neck.deform_impl = args.deform_impl
    cfg.model.test_cfg.max_per_video = 5
    sources = cfg.train_dataloader.dataset.datasets
    head.prompt_prior = bool(args.prompt_prior)
    head.stage_cfg.cls_temperature = args.cls_temperature
    replace = {
        'SamplePrompts':
        dict(num_prompts=args.num_prompts, box_prob=args.box_prob)
    }
    cfg.train_dataloader.batch_sampler.repeat_factors = list(
        args.repeat_factors)
    for source in sources:
        source.pipeline = resize_pipeline(source.pipeline, size,
                                          tuple(args.jitter), replace)
        if source.type == 'CocoPanopticDataset':
            source.data_root = data.coco_root
            source.ann_file = data.coco_ann
            source.data_prefix = dict(img=data.coco_img, seg=data.coco_seg)
        else:
            source.data_root = ''
            source.ann_file = data.video_ann
            source.data_prefix = dict(img_path=data.video_img)
            for t in source.pipeline:
                if t['type'] == 'UniformRefFrameSample':
                    t['frame_range'] = 2
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    for key in ('val_dataloader', 'val_evaluator', 'val_cfg',
                'test_dataloader', 'test_evaluator', 'test_cfg'):
        cfg.pop(key, None)
    cfg.train_cfg = dict(
        type='ContinuousIterBasedTrainLoop', max_iters=args.iters)
    cfg.optim_wrapper.optimizer.lr = args.lr
    cfg.optim_wrapper.clip_grad = dict(
        max_norm=args.grad_clip, norm_type=2) if args.grad_clip > 0 else None
    # No ImageNet weights can be loaded here: the backbone learns at full lr.
    cfg.optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult = 1.0
    warmup = min(50, args.iters // 2)
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
             end=warmup),
        dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup,
             end=args.iters, eta_min=args.lr * 0.05)
    ]
    cfg.auto_scale_lr = dict(enable=False, base_batch_size=16)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=25)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', by_epoch=False, interval=args.iters,
        save_last=True, max_keep_ckpts=1)
    cfg.default_hooks.visualization = dict(type='DetVisualizationHook')
    cfg.log_processor = dict(type='LogProcessor', window_size=25,
                             by_epoch=False)
    cfg.custom_hooks = [
        dict(type='ProgressBarHook'),
        dict(type='TimeBudgetHook', minutes=args.minutes),
        dict(type='LossCurveHook', window=20),
        dict(type='RNGStateHook')
    ]
    cfg.env_cfg = dict(cudnn_benchmark=False,
                       mp_cfg=dict(mp_start_method='fork',
                                   opencv_num_threads=0),
                       dist_cfg=dict(backend='gloo'))
    return cfg


def test_pipelines(size):
    h, w = size
    image = [
        dict(type='LoadImageNamingFile'),
        dict(type='Resize', scale=(w, h), keep_ratio=True),
        dict(type='LoadPanopticAnnotations', with_bbox=True, with_mask=True,
             with_seg=True)
    ]
    panoptic = image + [
        dict(type='PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                        'scale_factor'))
    ]
    # Prompts are scored against the pipeline's masks: load them before the
    # resize, so that they are resized with the image.
    prompts = [image[0], image[2], image[1]] + [
        dict(type='SamplePrompts', num_prompts=1000, num_points=1,
             box_prob=0.0, min_mask_area=16),
        dict(type='PackPromptInputs')
    ]
    video = [
        dict(type='TransformBroadcaster', transforms=[
            dict(type='LoadImageNamingFile'),
            dict(type='Resize', scale=(w, h), keep_ratio=True),
            dict(type='LoadTrackAnnotations', with_mask=True)
        ]),
        dict(type='PackTrackInputs')
    ]
    return panoptic, prompts, video


def evaluate(model, data: DemoData, embeddings: dict, size, out_dir):
    """PQ, 1-click / 1-box mIoU and VIS mAP of a model on the demo's data.

    Returns:
        tuple: ``results`` (metric -> value), ``timing`` (task -> seconds
        per image or frame) and ``outputs`` (task -> the predicted data
        samples: ``panoptic``, ``click``, ``box``, ``video``); PNGs are
        written to ``out_dir``.
    """
    panoptic_pipe, prompt_pipe, video_pipe = test_pipelines(size)
    coco = dict(type='CocoPanopticDataset', data_root=data.coco_root,
                ann_file=data.coco_ann,
                data_prefix=dict(img=data.coco_img, seg=data.coco_seg),
                test_mode=True)
    results, timing, outputs = {}, {}, {}
    coco_vocab = get_vocabulary('coco_panoptic')
    model.set_test_vocabulary(
        embeddings['coco_panoptic'], COCO_PANOPTIC_NUM_THINGS,
        len(coco_vocab) - COCO_PANOPTIC_NUM_THINGS)
    start = time.perf_counter()
    pq, pan_out = evaluate_panoptic(
        model, dict(coco, pipeline=panoptic_pipe),
        dict(type='CocoPanopticMetric',
             ann_file=osp.join(data.coco_root, data.coco_ann),
             seg_prefix=osp.join(data.coco_root, data.coco_seg)))
    timing['panoptic'] = (time.perf_counter() - start) / len(pan_out)
    results['PQ'] = pq['coco_panoptic/PQ']
    results['SQ'] = pq['coco_panoptic/SQ']
    results['RQ'] = pq['coco_panoptic/RQ']
    outputs['panoptic'] = pan_out
    for i, sample in enumerate(pan_out):
        image = mmcv.imread(sample.img_path, channel_order='rgb')
        seg = sample.pred_panoptic_seg.sem_seg[0].cpu().numpy()
        write_image_atomic(
            osp.join(out_dir, f'panoptic_{i}.png'),
            overlay_panoptic(image, seg, len(coco_vocab))[..., ::-1])

    for kind, evaluate_fn in (('click', evaluate_point_prompts),
                              ('box', evaluate_box_prompts)):
        start = time.perf_counter()
        miou, prompt_out = evaluate_fn(model, dict(coco, pipeline=prompt_pipe))
        timing[kind] = (time.perf_counter() - start) / len(prompt_out)
        results[f'prompt mIoU (1 {kind})'] = next(
            v for k, v in miou.items() if k.endswith('/mIoU'))
        outputs[kind] = prompt_out
        for i, sample in enumerate(prompt_out):
            image = mmcv.imread(sample.img_path, channel_order='rgb')
            image = mmcv.imresize(image, sample.img_shape[::-1])
            p = sample.prompt_instances
            drawn = dict(boxes=p.boxes.numpy()) if kind == 'box' else dict(
                points=p.points.numpy(), point_labels=p.point_labels.numpy())
            write_image_atomic(
                osp.join(out_dir, f'{kind}_prompts_{i}.png'),
                overlay_masks(image,
                              sample.pred_prompt_instances.masks.numpy(),
                              **drawn)[..., ::-1])

    ytvis_vocab = get_vocabulary('ytvis2019')
    model.set_test_vocabulary(embeddings['ytvis2019'], len(ytvis_vocab), 0)
    start = time.perf_counter()
    vis, vis_out = evaluate_video_instances(
        model,
        dict(type='YouTubeVISDataset', dataset_version='2019', data_root='',
             ann_file=data.video_ann,
             data_prefix=dict(img_path=data.video_img), test_mode=True,
             pipeline=video_pipe),
        dict(type='YouTubeVISCompatMetric'))
    frames = sum(len(v) for v in vis_out)
    timing['video'] = (time.perf_counter() - start) / frames
    results['VIS mAP'] = next(v for k, v in vis.items() if k.endswith('mAP'))
    outputs['video'] = vis_out
    write_strip(vis_out[0], osp.join(out_dir, 'video_strip.png'))
    return results, timing, outputs


def write_strip(track_sample, path: str, num: int = 5) -> None:
    """A few frames of a video side by side, each kept id in its colour."""
    frames = list(track_sample)
    picks = np.linspace(0, len(frames) - 1, min(num, len(frames)))
    tiles = []
    for idx in picks.astype(int):
        frame = frames[idx]
        image = mmcv.imread(frame.img_path, channel_order='rgb')
        inst = frame.pred_track_instances
        keep = inst.scores >= inst.scores.max() * 0.5 if len(inst) else []
        masks = inst.masks[keep].cpu().numpy()
        ids = inst.instances_id[keep].tolist()
        tile = overlay_masks(image, masks, ids=[i + 1 for i in ids])
        tiles.append(mmcv.imrescale(tile, (320, 240)))
    h = min(t.shape[0] for t in tiles)
    strip = np.concatenate([t[:h] for t in tiles], axis=1)
    write_image_atomic(path, strip[..., ::-1])


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.work_dir, exist_ok=True)
    data_dir = osp.join(args.work_dir, 'data')
    shared = None if args.synthetic else osp.abspath(args.shared_data)
    data = prepare_demo_data(data_dir, shared)
    print(f'data: {data.source} ({data.coco_root}, {data.video_ann})')
    embeddings = build_embeddings(osp.join(data_dir, 'embeddings'),
                                  args.clip_model, args.clip_checkpoint,
                                  not (args.clip_checkpoint
                                       or args.clip_random_weights))
    cfg = demo_config(data, embeddings, args)
    cfg.dump(osp.join(args.work_dir, 'demo_config.py'))
    runner = Runner.from_cfg(cfg)
    start = time.perf_counter()
    runner.train()
    train_s = time.perf_counter() - start
    iters = runner.iter
    model = runner.model
    vis_dir = osp.join(args.work_dir, 'vis')
    os.makedirs(vis_dir, exist_ok=True)
    results, timing, _ = evaluate(model, data, embeddings, args.size,
                                  vis_dir)
    print(f'\ntrained {iters} iterations in {train_s / 60:.1f} min '
          f'({iters / train_s:.2f} it/s) on {data.source} data\n')
    print('| task | metric | value | s / image |')
    print('|---|---|---|---|')
    rows = [('panoptic', 'PQ', timing['panoptic']),
            ('panoptic', 'SQ', timing['panoptic']),
            ('panoptic', 'RQ', timing['panoptic']),
            ('prompts', 'prompt mIoU (1 click)', timing['click']),
            ('prompts', 'prompt mIoU (1 box)', timing['box']),
            ('video', 'VIS mAP', timing['video'])]
    for task, key, sec in rows:
        value = results[key]
        value = value * 100 if key == 'VIS mAP' else value
        print(f'| {task} | {key} | {value:.1f} | {sec:.2f} |')
    summary = dict(source=data.source, iterations=iters, train_seconds=train_s,
                   metrics=results, seconds_per_image=timing)
    results_file = osp.join(args.work_dir, 'demo_results.json')
    dump_json_atomic(summary, results_file, indent=1)
    print(f'\nvisualisations: {vis_dir}/ (panoptic_*.png, '
          f'click_prompts_*.png, box_prompts_*.png, video_strip.png); '
          f'loss curves: '
          f'{args.work_dir}/loss_curves.png')
    print('\nThese figures measure how well the model fits the samples it '
          'was trained on (the same images and clips): they show that every '
          'task learns, not how it generalises.')
    print_next_steps(args.work_dir, data)
    return summary


def print_next_steps(work_dir: str, data: DemoData) -> None:
    """One command each to open the trained model in the demos."""
    ckpt_file = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(ckpt_file):
        return
    with open(ckpt_file) as f:
        checkpoint = osp.relpath(f.read().strip())
    config = osp.relpath(osp.join(work_dir, 'demo_config.py'))
    image = osp.relpath(
        osp.join(data.coco_root, data.coco_img,
                 sorted(os.listdir(osp.join(data.coco_root,
                                            data.coco_img)))[0]))
    with open(data.video_ytvis_ann) as f:
        first_frame = json.load(f)['videos'][0]['file_names'][0]
    video = osp.relpath(osp.join(data.video_img, osp.dirname(first_frame)))
    print(f"""
Next: open the trained checkpoint ({checkpoint}) in the demos
  web page:   python demo/web_demo.py {config} --checkpoint {checkpoint} \\
                  --image {image} --scale 288 192
  image demo: python demo/image_demo.py {image} {config} \\
                  --checkpoint {checkpoint} --scale 288 192 \\
                  --points 320,300 --out-dir {work_dir}/image_demo
  video demo: python demo/video_demo.py {video} {config} \\
                  --checkpoint {checkpoint} --scale 288,192 \\
                  --out {work_dir}/video_demo""")


if __name__ == '__main__':
    main()
