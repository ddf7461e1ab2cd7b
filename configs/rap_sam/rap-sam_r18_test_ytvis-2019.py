# RAP-SAM R18 on YouTube-VIS 2019 valid at 1280x736: clips of
# `clip_length` frames decoded as one tall map, consecutive clips linked by
# Hungarian matching of the object queries (MinVIS); mask mAP with ground
# truth, the server submission zip without.
#   python tools/test.py THIS_CONFIG CHECKPOINT [--out-json FILE]
_base_ = [
    '../_base_/models/rap_sam_r18.py',
    '../_base_/datasets/youtube_vis_2019_test.py',
    '../_base_/default_runtime.py'
]

# Text embeddings of the 40 YouTube-VIS 2019 classes:
#   python tools/build_text_embeddings.py --vocab ytvis2019 \
#       --checkpoint /path/to/open_clip_convnext_large_d_320.bin --out FILE
test_embedding_file = 'data/embeddings/ytvis2019_convnext_large_d_320.pth'

model = dict(
    panoptic_head=dict(
        test_classifier=dict(
            type='OpenVocabClassifier',
            embedding_file=test_embedding_file,
            embed_dims=768)),
    panoptic_fusion_head=dict(num_things_classes=40, num_stuff_classes=0),
    # Clips as long as the training clips (2 frames).
    test_cfg=dict(clip_length=2, max_per_video=10))

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='TrackLocalVisualizer', vis_backends=vis_backends, name='visualizer')
default_hooks = dict(
    visualization=dict(type='TrackVisualizationHook', draw=False))
