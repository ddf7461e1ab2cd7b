# ADE20K panoptic val (mmdet's ADE20KPanopticDataset: 100 things, 50
# stuff; ade20k_panoptic_val.json + PNGs made by mmdet's
# ade20k2coco.py) at 2560x640: PQ with CocoPanopticMetric and semantic
# mIoU of the same panoptic predictions (PanopticSemSegMetric, against
# the panoptic ground truth's class map, 255 ignored). Data root: this one
# variable, or the ADE20K_ROOT environment variable.
data_root = '{{$ADE20K_ROOT:data/ADEChallengeData2016/}}'
backend_args = None

test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(2560, 640), keep_ratio=True),
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
        type='ADE20KPanopticDataset',
        data_root=data_root,
        ann_file='ade20k_panoptic_val.json',
        data_prefix=dict(img='images/validation/', seg='ade20k_panoptic_val/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
# The semantic metric first: CocoPanopticMetric writes VOID into the
# prediction in place.
test_evaluator = [
    dict(type='PanopticSemSegMetric', iou_metrics=['mIoU'], prefix='semseg'),
    dict(
        type='CocoPanopticMetric',
        ann_file=data_root + 'ade20k_panoptic_val.json',
        seg_prefix=data_root + 'ade20k_panoptic_val/',
        prefix='ade20k_panoptic',
        backend_args=backend_args)
]
test_cfg = dict(type='TestLoop')
custom_hooks = [dict(type='BenchmarkTableHook', dataset_name='ADE20K val')]
