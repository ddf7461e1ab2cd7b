# The released official RAP-SAM R50 (`rapsam_r50_12e.pth`) as the official
# code runs it, after `tools/model_converters/rapsam_official_to_mmdet.py`:
#   python tools/test.py THIS_CONFIG rapsam_r50_converted.pth
# Every behaviour that this project can change is pinned here to the official
# one (see "Differences from the official code" in projects/rap_sam/README.md),
# so the config keeps its meaning whatever the defaults become.
# tests/test_official_parity.py checks this config against the official
# model's outputs (../shared/fixtures/official_r50).
_base_ = './rap-sam_r50_test_coco-panoptic.py'

model = dict(
    panoptic_head=dict(
        # stage class logits: exp(4.6052) * cos / 0.1; adapter: no 1 / 0.1
        stage_cfg=dict(cls_temperature=0.1),
        classifier=dict(logit_scale=4.6052),
        # a click is a 6-pixel box, coordinates / img_shape, type row 1
        prompt_encoder=dict(
            type='PromptEncoder',
            point_size=6.,
            normalize_by='img_shape',
            type_per_kind=False),
        # the first stage pools under `prompt query . features`
        prompt_prior=False,
        # IoU scores are the raw regression onto the Dice coefficient
        bounded_iou=False),
    test_cfg=dict(object_mask_thr=0.8, iou_thr=0.8, filter_low_score=True))
