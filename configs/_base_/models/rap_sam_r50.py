# RAP-SAM with a ResNet-50 backbone (the paper's and the official release's
# model: 47.25M parameters).
num_things_classes = 80
num_stuff_classes = 53
# CLIP text embeddings of the class names, made by
# `python tools/build_text_embeddings.py --vocab coco_panoptic
#  --checkpoint /path/to/open_clip_convnext_large_d_320.bin --out ...`.
embedding_file = 'data/embeddings/coco_panoptic_convnext_large_d_320.pth'

model = dict(
    type='RapSAM',
    data_preprocessor=dict(
        type='RapSAMDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        pad_mask=True,
        mask_pad_value=0,
        pad_seg=True,
        seg_pad_value=255),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        # ImageNet weights from a LOCAL file, e.g. --cfg-options
        # model.backbone.init_cfg.type=Pretrained
        # model.backbone.init_cfg.checkpoint=/path/to/resnet50.pth
        init_cfg=None),
    neck=dict(
        type='LiteDeformFPN',
        in_channels=[256, 512, 1024, 2048],
        agg_channels=128,
        out_channels=256,
        norm_cfg=dict(type='BN', requires_grad=True)),
    panoptic_head=dict(
        type='RapSAMHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        num_queries=100,
        embed_dims=256,
        num_stages=3,
        stage_cfg=dict(
            num_heads=8,
            ffn_channels=2048,
            mask_threshold=0.5,
            cls_temperature=0.1),
        classifier=dict(
            type='OpenVocabClassifier',
            embedding_file=embedding_file,
            embed_dims=768),
        prompt_encoder=dict(type='PromptEncoder', embed_dims=256),
        loss_cls=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=2.0,
            reduction='mean'),
        loss_mask=dict(
            type='CrossEntropyLoss',
            use_sigmoid=True,
            reduction='mean',
            loss_weight=5.0),
        loss_dice=dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            reduction='mean',
            naive_dice=True,
            eps=1.0,
            loss_weight=5.0),
        # prompt queries: BCE 5 and Dice 5 against their own mask, and the
        # raw IoU output regressed onto the Dice coefficient
        prompt_loss=dict(
            type='PromptLoss', loss_iou=dict(type='MSELoss',
                                             loss_weight=10.0)),
        no_object_weight=0.1),
    # MaskFormer's post-processing, resizing only the masks it uses.
    panoptic_fusion_head=dict(
        type='RapSAMFusionHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        loss_panoptic=None,
        init_cfg=None),
    train_cfg=dict(
        num_points=12544,
        oversample_ratio=3.0,
        importance_sample_ratio=0.75,
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='ClassificationCost', weight=2.0),
                # mmdet's CrossEntropyLossCost(use_sigmoid=True), 8x faster
                dict(type='BinaryCrossEntropyCost', weight=5.0),
                dict(type='DiceCost', weight=5.0, pred_act=True, eps=1.0)
            ]),
        sampler=dict(type='MaskPseudoSampler')),
    test_cfg=dict(
        panoptic_on=True,
        semantic_on=False,
        instance_on=True,
        max_per_image=100,
        max_per_video=10,
        iou_thr=0.8,
        filter_low_score=True,
        object_mask_thr=0.8,
        # video: queries of consecutive clips linked with this momentum
        link_momentum=0.),
    init_cfg=None)
