# COCO-SAM interactive segmentation on COCO panoptic val2017, SAM's input:
# the longest side resized to 1024 and padded to 1024x1024. Every
# ground-truth segment, things and stuff (crowd regions excluded), is
# prompted once by a click at its most interior pixel and once by its
# tight box: mIoU per prompt mode. InteractiveTestLoop then refines each
# segment by simulated clicks on the cached features (next click at the
# centre of the largest error region): NoC@85, NoC@90 and mIoU@k.
# Data root: this one variable, or the COCO_ROOT environment variable.
data_root = '{{$COCO_ROOT:data/coco/}}'
backend_args = None
input_size = 1024

test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=True),
    # Padding with the pixel mean (zero after normalisation).
    dict(
        type='Pad',
        size=(input_size, input_size),
        pad_val=dict(img=(103.53, 116.28, 123.675))),
    # Loaded after the resize and padding: segments at the original size.
    dict(
        type='LoadPanopticAnnotations',
        with_bbox=True,
        with_mask=True,
        with_seg=True,
        backend_args=backend_args),
    dict(type='GTSegmentPrompts', modes=('point', 'box')),
    dict(
        type='PackPromptInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'pad_shape', 'scale_factor'))
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CocoPanopticDataset',
        data_root=data_root,
        ann_file='annotations/panoptic_val2017.json',
        data_prefix=dict(img='val2017/', seg='annotations/panoptic_val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_evaluator = dict(
    type='InteractiveSegMetric',
    noc_thresholds=(0.85, 0.9),
    max_clicks=20,
    miou_clicks=(1, 3, 5))
test_cfg = dict(type='InteractiveTestLoop', click_refinement=True)
custom_hooks = [
    dict(type='BenchmarkTableHook', dataset_name='COCO-SAM (COCO val2017)')
]
