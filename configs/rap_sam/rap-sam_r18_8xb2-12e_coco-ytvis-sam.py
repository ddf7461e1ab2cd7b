# RAP-SAM R18 trained jointly, one task per batch, on COCO panoptic images
# as 2-frame pseudo videos, YouTube-VIS 2019 clips and COCO images with
# SAM-style point / box prompts; tested on COCO panoptic.
_base_ = [
    '../_base_/models/rap_sam_r18.py',
    '../_base_/datasets/joint_coco_ytvis_sam.py',
    '../_base_/schedules/schedule_12e.py', '../_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['rap_sam', 'rap_sam.datasets', 'mmseg.models'],
    allow_failed_imports=False)

# Training vocabulary 'coco_ytvis2019' (merge of COCO panoptic and
# YouTube-VIS 2019): 80 COCO things, 53 COCO stuff, 21 YouTube-VIS-only
# classes. The head counts the last 74 as stuff: COCO's semantic maps give
# stuff labels 80..132 only, and video objects come as instance masks.
# Embeddings: python tools/build_text_embeddings.py --vocab coco_ytvis2019
#   --checkpoint /path/to/open_clip_convnext_large_d_320.bin --out FILE
num_things_classes = 80
num_stuff_classes = 53 + 21
train_embedding_file = \
    'data/embeddings/coco_ytvis2019_convnext_large_d_320.pth'
# Tests run on COCO panoptic: its own 133-class vocabulary
# (--vocab coco_panoptic), matching the fusion head's 80 things / 53 stuff.
test_embedding_file = 'data/embeddings/coco_panoptic_convnext_large_d_320.pth'

# ImageNet weights of the backbone, fetched by torchvision where the machine
# is online; offline, give a local file
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/to/resnet18.pth
# or train from scratch with --cfg-options model.backbone.init_cfg=None.
backbone_checkpoint = 'torchvision://resnet18'

model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint=backbone_checkpoint)),
    # Batch statistics over all GPUs (tools/train.py falls back to BN for
    # CPU runs, where SyncBN cannot synchronise).
    neck=dict(norm_cfg=dict(type='SyncBN', requires_grad=True)),
    panoptic_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        classifier=dict(embedding_file=train_embedding_file),
        test_classifier=dict(
            type='OpenVocabClassifier',
            embedding_file=test_embedding_file,
            embed_dims=768)),
    panoptic_fusion_head=dict(num_things_classes=80, num_stuff_classes=53))

# The head gives every parameter a gradient in every task's batch.
find_unused_parameters = False
