"""The official R50 checkpoint converts onto this project's model."""
import torch

from conftest import REPO, load_config
from mmdet.registry import MODELS
from rap_sam.model_converters import convert_key, convert_state_dict

KEYS_TSV = REPO.parent / 'shared' / 'notes' / 'official_rapsam_r50_keys.tsv'


def official_state_dict():
    import pytest
    if not KEYS_TSV.exists():
        pytest.skip(f'{KEYS_TSV} not found')
    state = {}
    for line in KEYS_TSV.read_text().splitlines():
        if line.startswith('#') or not line.strip():
            continue
        name, shape, dtype, _ = line.split('\t')
        dims = [int(d) for d in shape.strip('[]').split(',') if d.strip()]
        dtype = getattr(torch, dtype)
        state[name] = torch.randn(dims).to(dtype) if dtype.is_floating_point \
            else torch.zeros(dims, dtype=dtype)
    return state


def test_every_official_tensor_lands_on_a_tensor_of_the_same_shape():
    official = official_state_dict()
    assert len(official) == 568
    converted, dropped = convert_state_dict(official)
    assert dropped == []
    model = MODELS.build(
        load_config('rap-sam_r50_8xb2-12e_coco-panoptic.py').model)
    ours = model.state_dict()
    assert len(converted) == len(official)
    for key, value in converted.items():
        assert key in ours, key
        assert ours[key].shape == value.shape, key
    missing, unexpected = model.load_state_dict(converted, strict=False)
    assert unexpected == []
    assert missing == ['panoptic_head.prompt_encoder.click_embed.weight']
    # Values really arrive where they should.
    torch.testing.assert_close(
        model.neck.deform_blocks[2].deform_conv.weight,
        official['neck.deconv.deform_conv1.dcn.weight'])
    torch.testing.assert_close(
        model.panoptic_head.stages[1].self_attn.in_proj_weight,
        official['panoptic_head.mask_heads.1.s_atten.in_proj_weight'])
    official_params = sum(v.numel() for k, v in official.items()
                          if v.is_floating_point() and 'running' not in k)
    assert official_params == 47_252_245


def test_unknown_keys_are_refused():
    import pytest
    with pytest.raises(KeyError, match='unknown key'):
        convert_key('panoptic_head.something_else.weight')


def test_text_embedding_buffers_are_dropped():
    converted, dropped = convert_state_dict({
        'panoptic_head.mask_heads.0.fc_cls': torch.zeros(768, 156, 4),
        'panoptic_head.kernels.weight': torch.zeros(100, 256)
    })
    assert dropped == ['panoptic_head.mask_heads.0.fc_cls']
    assert list(converted) == ['panoptic_head.object_queries.weight']
