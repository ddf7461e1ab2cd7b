# RAP-SAM R50 on ADE20K panoptic val at 2560x640 (open vocabulary: the
# ADE20K class names' text embeddings): PQ and semantic mIoU of the same
# panoptic predictions.
#   python tools/test.py THIS_CONFIG CHECKPOINT [--out-json FILE]
_base_ = [
    '../_base_/models/rap_sam_r50.py',
    '../_base_/datasets/ade20k_panoptic_test.py',
    '../_base_/default_runtime.py'
]

# Text embeddings of the 150 ADE20K classes (100 things, then 50 stuff):
#   python tools/build_text_embeddings.py --vocab ade20k_panoptic \
#       --checkpoint /path/to/open_clip_convnext_large_d_320.bin --out FILE
test_embedding_file = \
    'data/embeddings/ade20k_panoptic_convnext_large_d_320.pth'

model = dict(
    panoptic_head=dict(
        test_classifier=dict(
            type='OpenVocabClassifier',
            embedding_file=test_embedding_file,
            embed_dims=768)),
    panoptic_fusion_head=dict(num_things_classes=100, num_stuff_classes=50))
