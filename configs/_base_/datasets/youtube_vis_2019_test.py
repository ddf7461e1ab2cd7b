# YouTube-VIS 2019 valid at 1280x736, whole videos (mmdet's video-level
# test): mask mAP with YouTubeVISCompatMetric when the annotation file has
# ground truth, else the server submission (<outfile_prefix>.json and
# <outfile_prefix>.submission_file.zip). The annotation file is the
# CocoVID layout mmdet's YouTubeVISDataset reads (mmdet's
# youtubevis2coco.py, or rap_sam.datasets.converters.ytvis_to_cocovid).
# Data root: this one variable, or the YTVIS_ROOT environment variable.
data_root = '{{$YTVIS_ROOT:data/youtube_vis_2019/}}'
backend_args = None

test_pipeline = [
    dict(
        type='TransformBroadcaster',
        transforms=[
            dict(type='LoadImageFromFile', backend_args=backend_args),
            dict(type='Resize', scale=(1280, 736), keep_ratio=True),
            dict(type='LoadTrackAnnotations', with_mask=True),
        ]),
    dict(type='PackTrackInputs')
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type='YouTubeVISDataset',
        data_root=data_root,
        dataset_version='2019',
        ann_file='annotations/youtube_vis_2019_valid.json',
        data_prefix=dict(img_path='valid/JPEGImages'),
        test_mode=True,
        pipeline=test_pipeline))
test_evaluator = dict(
    type='YouTubeVISCompatMetric',
    metric='youtube_vis_ap',
    # None: mAP with ground truth, the submission zip without.
    format_only=None,
    outfile_prefix='work_dirs/youtube_vis_2019/results')
test_cfg = dict(type='TestLoop')
custom_hooks = [
    dict(type='BenchmarkTableHook', dataset_name='YouTube-VIS 2019 valid')
]
