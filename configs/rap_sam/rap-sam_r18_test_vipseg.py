# RAP-SAM R18 on VIPSeg val at 1280x736: video panoptic segmentation,
# clips of `clip_length` frames linked by query matching (MinVIS), one
# panoptic map per frame with stable ids; VPQ (windows 1, 2, 4, 6, 8) and
# STQ.
#   python tools/test.py THIS_CONFIG CHECKPOINT [--out-json FILE]
_base_ = [
    '../_base_/models/rap_sam_r18.py',
    '../_base_/datasets/vipseg_test.py',
    '../_base_/default_runtime.py'
]

# Text embeddings of the 124 VIPSeg classes (taken in the dataset's
# things-first label order by `class_names`):
#   python tools/build_text_embeddings.py --vocab vipseg \
#       --checkpoint /path/to/open_clip_convnext_large_d_320.bin --out FILE
test_embedding_file = 'data/embeddings/vipseg_convnext_large_d_320.pth'

model = dict(
    panoptic_head=dict(
        test_classifier=dict(
            type='OpenVocabClassifier',
            embedding_file=test_embedding_file,
            class_names={{_base_.vipseg_classes}},
            embed_dims=768)),
    panoptic_fusion_head=dict(num_things_classes=58, num_stuff_classes=66),
    test_cfg=dict(clip_length=2, video_panoptic_on=True))

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='TrackLocalVisualizer', vis_backends=vis_backends, name='visualizer')
default_hooks = dict(
    visualization=dict(type='TrackVisualizationHook', draw=False))
