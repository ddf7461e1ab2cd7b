# Fine-tune RAP-SAM R18 on your own YouTube-VIS-format video dataset on one
# GPU (README.md, "Fine-tune on your own data"). It inherits the paper's
# joint recipe and changes only what differs: your clips are the only
# training source (the video instance task, 2-frame clips), classified
# with your own class names, and the model is tested on your validation
# clips with the YouTube-VIS protocol (mask mAP).
#
#   python tools/build_text_embeddings.py --class-names DATA_ROOT/classes.txt \
#       --pretrained laion2b_s29b_b131k_ft_soup \
#       --out DATA_ROOT/classes_convnext_large_d_320.pth
#   CUSTOM_VIS_ROOT=DATA_ROOT/ python tools/train.py THIS_CONFIG \
#       --auto-scale-lr
_base_ = '../rap-sam_r18_8xb2-12e_coco-ytvis-sam.py'

# Your dataset: JPEGImages/<video>/<frame>.jpg and the annotations in the
# CocoVID layout mmdet's YouTubeVISDataset reads,
# annotations/cocovid_{train,val}.json (converted from YouTube-VIS JSON with
# rap_sam.datasets.converters.ytvis_to_cocovid). This line, or the
# CUSTOM_VIS_ROOT environment variable (with the trailing slash).
data_root = '{{$CUSTOM_VIS_ROOT:data/my_videos/}}'
# Your classes, in the order of the categories of the JSON files.
classes = ('lego brick', 'marble')
# Text embeddings of these names (a file with more classes works too: the
# classifier takes these, in this order).
embedding_file = data_root + 'classes_convnext_large_d_320.pth'
# The RAP-SAM checkpoint to start from (its weights only).
load_from = 'checkpoints/rap-sam_r18.pth'
max_iters = 2000

# Video objects are things; no stuff.
num_things_classes = len(classes)
num_stuff_classes = 0
metainfo = dict(classes=classes)

model = dict(
    backbone=dict(init_cfg=None),  # load_from replaces every weight
    panoptic_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        classifier=dict(embedding_file=embedding_file, class_names=classes),
        test_classifier=None),
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes),
    # Test clips as long as the training clips, linked by query matching.
    test_cfg=dict(clip_length=2, max_per_video=10))

train_dataloader = dict(
    batch_size=2,
    batch_sampler=dict(tasks=['video'], repeat_factors=[1.]),
    dataset=dict(datasets=[
        dict(
            _base_.ytvis_train,
            data_root=data_root,
            metainfo=metainfo,
            ann_file='annotations/cocovid_train.json',
            data_prefix=dict(img_path='JPEGImages'),
            # Your labels are the model's: no mapping to COCO + YouTube-VIS.
            pipeline=[
                dict(
                    t,
                    transforms=[
                        u for u in t.transforms
                        if u.type != 'MapToMergedVocabulary'
                    ]) if t.type == 'TransformBroadcaster' else t
                for t in _base_.ytvis_pipeline
            ])
    ]))

# The YouTube-VIS test protocol (configs/_base_/datasets/
# youtube_vis_2019_test.py) on your validation clips.
vis_test_pipeline = [
    dict(
        type='TransformBroadcaster',
        transforms=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(1280, 736), keep_ratio=True),
            dict(type='LoadTrackAnnotations', with_mask=True),
        ]),
    dict(type='PackTrackInputs')
]
val_dataloader = dict(
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        _delete_=True,
        type='YouTubeVISDataset',
        data_root=data_root,
        dataset_version='2019',
        metainfo=metainfo,
        ann_file='annotations/cocovid_val.json',
        data_prefix=dict(img_path='JPEGImages'),
        test_mode=True,
        pipeline=vis_test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True,
    type='YouTubeVISCompatMetric',
    metric='youtube_vis_ap',
    outfile_prefix='work_dirs/custom_vis/results')
test_evaluator = val_evaluator
visualizer = dict(type='TrackLocalVisualizer')
default_hooks = dict(
    visualization=dict(type='TrackVisualizationHook', draw=False),
    checkpoint=dict(
        by_epoch=False, interval=500, max_keep_ckpts=2, save_last=True))

# Iteration-based schedule, as the panoptic example: the paper's warm-up and
# lr steps at 8/12 and 11/12; --auto-scale-lr scales the paper's lr (1e-4
# for 8 GPUs x 2) to your total batch.
train_cfg = dict(
    _delete_=True,
    type='ContinuousIterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=500)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=100),
    dict(
        type='MultiStepLR',
        by_epoch=False,
        begin=0,
        end=max_iters,
        milestones=[max_iters * 8 // 12, max_iters * 11 // 12],
        gamma=0.1)
]
log_processor = dict(by_epoch=False)
