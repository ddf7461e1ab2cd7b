# Fine-tune RAP-SAM R18 on your own COCO-panoptic-format dataset on one GPU
# (README.md, "Fine-tune on your own data"). It inherits the paper's joint
# recipe and changes only what differs: your data feeds both the panoptic
# task (images as 2-frame pseudo videos) and the prompt task (clicks
# sampled from your masks), YouTube-VIS is left out, and everything is
# classified with your own class names.
#
#   python tools/build_text_embeddings.py --class-names DATA_ROOT/classes.txt \
#       --pretrained laion2b_s29b_b131k_ft_soup \
#       --out DATA_ROOT/classes_convnext_large_d_320.pth
#   CUSTOM_ROOT=DATA_ROOT/ python tools/train.py THIS_CONFIG --auto-scale-lr
#
# For the converted official R50 checkpoint, inherit the R50 recipe instead:
#   _base_ = '../rap-sam_r50_8xb2-12e_coco-ytvis-sam.py'
_base_ = '../rap-sam_r18_8xb2-12e_coco-ytvis-sam.py'

# Your dataset: images/, annotations/panoptic_{train,val}.json,
# annotations/panoptic/*.png. This line, or the CUSTOM_ROOT environment
# variable (with the trailing slash).
data_root = '{{$CUSTOM_ROOT:data/my_dataset/}}'
# Your classes: things first, then stuff, in the order of the categories
# of the JSON files (mmdet numbers the labels in the JSON's order).
thing_classes = ('lego brick', 'marble')
stuff_classes = ('felt mat', 'backdrop')
# Text embeddings of these names (tools/build_text_embeddings.py
# --class-names); the checkpoint has none, so any class list works.
embedding_file = data_root + 'classes_convnext_large_d_320.pth'
# The RAP-SAM checkpoint to start from (its weights only; None: from
# scratch, then give the backbone ImageNet weights, see below).
load_from = 'checkpoints/rap-sam_r18.pth'
# Iterations at the paper's per-GPU batch (2 images); the lr steps follow.
max_iters = 2000
# Prompts are clicks only, as the paper's; 0.5 makes half of them boxes.
box_prompt_prob = 0.

num_things_classes = len(thing_classes)
num_stuff_classes = len(stuff_classes)
classes = thing_classes + stuff_classes
metainfo = dict(
    classes=classes, thing_classes=thing_classes, stuff_classes=stuff_classes)

model = dict(
    # load_from replaces every weight: no ImageNet download.
    backbone=dict(init_cfg=None),
    panoptic_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        classifier=dict(embedding_file=embedding_file, class_names=classes),
        # Trained and tested on the same vocabulary.
        test_classifier=None),
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes))

custom_train = dict(
    type='CocoPanopticDataset',
    data_root=data_root,
    metainfo=metainfo,
    ann_file='annotations/panoptic_train.json',
    data_prefix=dict(img='images/', seg='annotations/panoptic/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=32))
train_dataloader = dict(
    batch_size=2,
    batch_sampler=dict(tasks=['video', 'prompt'], repeat_factors=[1., 1.]),
    dataset=dict(datasets=[
        # Your labels are the model's: no mapping to COCO + YouTube-VIS.
        dict(
            custom_train,
            pipeline=[
                t for t in _base_.coco_video_pipeline
                if t.type != 'MapToMergedVocabulary'
            ]),
        dict(
            custom_train,
            pipeline=[
                dict(t, box_prob=box_prompt_prob)
                if t.type == 'SamplePrompts' else t
                for t in _base_.coco_prompt_pipeline
            ])
    ]))

val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/panoptic_val.json',
        data_prefix=dict(img='images/', seg='annotations/panoptic/')))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file=data_root + 'annotations/panoptic_val.json',
    seg_prefix=data_root + 'annotations/panoptic/',
    classwise=True)  # PQ of each of your classes, by name, in the log
test_evaluator = val_evaluator

# Iteration-based schedule: the paper's warm-up and lr steps at 8/12 and
# 11/12 of the run. The lr (1e-4) is the paper's for 8 GPUs x 2 images:
# --auto-scale-lr scales it to your total batch (1 GPU x 2: 1.25e-5).
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
default_hooks = dict(
    checkpoint=dict(
        by_epoch=False, interval=500, max_keep_ckpts=2, save_last=True))
log_processor = dict(by_epoch=False)
