# Joint training of RAP-SAM's three tasks, one task per batch:
#   - COCO panoptic images as 2-frame pseudo videos (video panoptic task);
#   - YouTube-VIS 2019 clips of 2 frames (video instance task);
#   - COCO panoptic images with SAM-style point / box prompts (prompt task).
# Labels live in the merged COCO + YouTube-VIS 2019 vocabulary
# ('coco_ytvis2019': 80 COCO things, 53 COCO stuff, 21 YouTube-VIS-only
# classes). Training size 1280x736 with large-scale jitter, every sample
# padded to that fixed size (see `fixed_size_pad`). Tested on COCO panoptic.
# The transforms and the batch sampler come from `rap_sam.datasets`: configs
# using this file import it in `custom_imports`.
coco_root = 'data/coco/'
ytvis_root = 'data/youtube_vis_2019/'
image_size = (736, 1280)  # (h, w)
num_frames = 2
# A YouTube-VIS reference frame is drawn within this many annotated frames
# (every 5th video frame) of the key frame.
ytvis_frame_range = 5
# Prompts per image: clicks only (box_prompt_prob 0), as the official
# recipe; raise box_prompt_prob to train box prompts as well.
num_prompts = 30
box_prompt_prob = 0.
# Samples per epoch of each source, as a multiple of its size. The official
# recipe repeats YouTube-VIS 25x: about 40 / 19 / 40 % of the samples are
# COCO pseudo videos / YouTube-VIS clips / COCO prompt images.
repeat_factors = dict(coco_video=1.0, ytvis=25.0, coco_prompt=1.0)
merged_vocabularies = ('coco_panoptic', 'ytvis2019')
backend_args = None

# Random flip, then large-scale jitter as the official recipe: [0.8, 2] x
# the training size for the video tasks, [0.1, 2] for prompts.
video_flip_resize = [
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomResize',
        scale=image_size[::-1],  # (w, h)
        ratio_range=(0.8, 2.0),
        resize_type='Resize',
        keep_ratio=True)
]
prompt_flip_resize = [
    video_flip_resize[0],
    dict(video_flip_resize[1], ratio_range=(0.1, 2.0))
]
random_crop = dict(
    type='RandomCrop',
    crop_size=image_size[::-1],  # (w, h)
    crop_type='absolute',
    recompute_bbox=True,
    allow_negative_crop=True)
# Every sample padded to the training size (the padding is the BGR pixel
# mean, i.e. zero after normalisation). mmdet's BatchFixedSizePad does this
# per batch for images only: the track preprocessor takes batch augments on
# single-frame clips only.
fixed_size_pad = dict(
    type='Pad',
    size=image_size[::-1],  # (w, h)
    pad_val=dict(img=(103.53, 116.28, 123.675), masks=0, seg=255))

coco_video_pipeline = [
    dict(type='LoadImageNamingFile', backend_args=backend_args),
    dict(
        type='LoadPanopticAnnotations',
        with_bbox=True,
        with_mask=True,
        with_seg=True,
        backend_args=backend_args),
    dict(
        type='MapToMergedVocabulary',
        source='coco_panoptic',
        vocabularies=merged_vocabularies),
    dict(type='ImageToPseudoVideo', num_frames=num_frames),
    # The same flip and scale for both frames, a different crop each.
    dict(
        type='TransformBroadcaster',
        share_random_params=True,
        transforms=video_flip_resize),
    dict(
        type='TransformBroadcaster',
        share_random_params=False,
        transforms=[
            random_crop,
            dict(
                type='FilterTrackAnnotations',
                min_gt_bbox_wh=(1e-5, 1e-5),
                by_mask=True,
                keep_empty=False), fixed_size_pad
        ]),
    dict(type='PackTrackPanopticInputs')
]

ytvis_pipeline = [
    dict(
        type='UniformRefFrameSample',
        num_ref_imgs=num_frames - 1,
        frame_range=ytvis_frame_range,
        filter_key_img=True),
    dict(
        type='TransformBroadcaster',
        share_random_params=True,
        transforms=[
            dict(type='LoadImageNamingFile', backend_args=backend_args),
            dict(type='LoadTrackAnnotations', with_mask=True),
            dict(
                type='MapToMergedVocabulary',
                source='ytvis2019',
                vocabularies=merged_vocabularies), *video_flip_resize,
            random_crop,
            dict(
                type='FilterTrackAnnotations',
                min_gt_bbox_wh=(1e-5, 1e-5),
                by_mask=True,
                keep_empty=False), fixed_size_pad
        ]),
    dict(type='PackTrackInputs')
]

coco_prompt_pipeline = [
    dict(type='LoadImageNamingFile', backend_args=backend_args),
    dict(
        type='LoadPanopticAnnotations',
        with_bbox=True,
        with_mask=True,
        with_seg=True,
        backend_args=backend_args),
    *prompt_flip_resize,
    random_crop,
    dict(
        type='FilterAnnotations',
        min_gt_bbox_wh=(1e-5, 1e-5),
        by_mask=True,
        keep_empty=False),
    # Points and boxes from thing and stuff masks, in input pixels.
    dict(
        type='SamplePrompts',
        num_prompts=num_prompts,
        num_points=1,
        box_prob=box_prompt_prob,
        prompt_type_per='prompt',
        box_noise_scale=0.1,
        box_noise_max=20.),
    fixed_size_pad,
    dict(type='PackPromptInputs')
]

coco_train = dict(
    type='CocoPanopticDataset',
    data_root=coco_root,
    ann_file='annotations/panoptic_train2017.json',
    data_prefix=dict(img='train2017/', seg='annotations/panoptic_train2017/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    backend_args=backend_args)
ytvis_train = dict(
    type='YouTubeVISDataset',
    data_root=ytvis_root,
    dataset_version='2019',
    ann_file='annotations/youtube_vis_2019_train.json',
    data_prefix=dict(img_path='train/JPEGImages'),
    pipeline=ytvis_pipeline)

train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    # One source per batch, the same task on every rank at every iteration.
    batch_sampler=dict(
        type='TaskBatchSampler',
        tasks=['video', 'video', 'prompt'],
        repeat_factors=[
            repeat_factors['coco_video'], repeat_factors['ytvis'],
            repeat_factors['coco_prompt']
        ]),
    dataset=dict(
        type='ConcatDataset',
        # The sources' label sets differ; labels are mapped to the merged
        # vocabulary by the pipelines.
        ignore_keys=['classes', 'thing_classes', 'stuff_classes', 'palette'],
        datasets=[
            dict(**coco_train, pipeline=coco_video_pipeline), ytvis_train,
            dict(**coco_train, pipeline=coco_prompt_pipeline)
        ]))

test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadPanopticAnnotations', backend_args=backend_args),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CocoPanopticDataset',
        data_root=coco_root,
        ann_file='annotations/panoptic_val2017.json',
        data_prefix=dict(img='val2017/', seg='annotations/panoptic_val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoPanopticMetric',
    ann_file=coco_root + 'annotations/panoptic_val2017.json',
    seg_prefix=coco_root + 'annotations/panoptic_val2017/',
    backend_args=backend_args)
test_evaluator = val_evaluator
