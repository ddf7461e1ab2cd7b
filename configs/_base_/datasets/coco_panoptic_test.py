# COCO panoptic val2017 at 1333x800 (the paper's test size): PQ with
# mmdet's CocoPanopticMetric and, from the same predictions, the thing
# masks as instance segmentation (CocoMetric segm mAP, as mmdet's
# Mask2Former panoptic configs report). Data root: this one variable, or
# the COCO_ROOT environment variable.
data_root = '{{$COCO_ROOT:data/coco/}}'
backend_args = None

test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    # Loaded after the resize: scored at the original size.
    dict(type='LoadPanopticAnnotations', backend_args=backend_args),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
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
test_evaluator = [
    dict(
        type='CocoPanopticMetric',
        ann_file=data_root + 'annotations/panoptic_val2017.json',
        seg_prefix=data_root + 'annotations/panoptic_val2017/',
        backend_args=backend_args),
    dict(
        type='CocoMetric',
        ann_file=data_root + 'annotations/instances_val2017.json',
        metric=['segm'],
        backend_args=backend_args)
]
test_cfg = dict(type='TestLoop')
custom_hooks = [dict(type='BenchmarkTableHook', dataset_name='COCO val2017')]
