"""RAP-SAM end to end on CPU: every task's loss, gradients and predictions."""
import copy

import pytest
import torch
from mmengine.structures import InstanceData

from conftest import ALL_CONFIGS, load_config
from mmdet.registry import MODELS
from mmdet.structures.mask import BitmapMasks
from mmdet.testing import demo_mm_inputs, demo_track_inputs
from rap_sam.models.layers import FactoredMap

R18 = 'rap-sam_r18_8xb2-12e_coco-panoptic.py'
R50 = 'rap-sam_r50_8xb2-12e_coco-panoptic.py'
OFFICIAL_R50_PARAMS = 47_252_245
# Parameters that only prompt queries use, and those only object queries use.
PROMPT_ONLY = ('prompt_encoder.', 'prompt_adapter.', '.iou_head.')
OBJECT_ONLY = ('object_queries', 'object_adapter.', '.cls_fcs.',
               '.cls_proj.')


@pytest.fixture(scope='module')
def r18():
    torch.manual_seed(0)
    return MODELS.build(load_config(R18).model)


def num_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_config_builds(name):
    model = MODELS.build(load_config(name).model)
    model.init_weights()
    assert model.panoptic_head.num_queries == 100
    assert len(model.panoptic_head.stages) == 3
    assert num_params(model) > 1e6


def test_r50_has_the_papers_parameter_count():
    model = MODELS.build(load_config(R50).model)
    # The official layout plus a zero-initialised negative/positive click
    # embedding (2 x 256), which the official model lacks.
    assert num_params(model) == OFFICIAL_R50_PARAMS + 512
    assert abs(num_params(model) / OFFICIAL_R50_PARAMS - 1) < 0.02


def image_batch(model, shapes, num_items, with_semantic=True, training=True):
    num_classes = model.panoptic_head.num_classes
    packed = demo_mm_inputs(
        batch_size=len(shapes), image_shapes=shapes, num_items=num_items,
        num_classes=num_things(model), with_mask=True,
        with_semantic=with_semantic)
    if with_semantic:
        for sample in packed['data_samples']:
            seg = sample.gt_sem_seg.sem_seg
            sample.gt_sem_seg.sem_seg = seg % num_classes
    return model.data_preprocessor(packed, training)


def num_things(model):
    return model.panoptic_head.num_things_classes


def add_prompts(data, kind='points'):
    """One prompt per gt mask: a click inside it, or its box."""
    for sample in data['data_samples']:
        masks = sample.gt_instances.masks
        tensor = masks.to_tensor(torch.bool, 'cpu') if isinstance(
            masks, BitmapMasks) else masks
        prompts = InstanceData()
        if kind == 'points':
            points = []
            for m in tensor:
                ys, xs = torch.nonzero(m, as_tuple=True)
                points.append([[xs[len(xs) // 2].item(),
                                ys[len(ys) // 2].item()]])
            prompts.points = torch.tensor(points, dtype=torch.float32
                                          ).reshape(len(tensor), 1, 2)
            prompts.point_labels = torch.ones(len(tensor), 1,
                                              dtype=torch.long)
        else:
            prompts.boxes = sample.gt_instances.bboxes.clone().float()
        sample.prompt_instances = prompts
    return data


def assert_grads(model, losses, unused_prefixes):
    """Finite losses; non-zero gradients on every parameter the task uses;
    a (possibly zero) gradient on all others so DDP never waits."""
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert all(torch.isfinite(v).all() for v in losses.values())
    model.zero_grad()
    total.backward()
    missing, zero = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.grad is None:
            missing.append(name)
        elif not any(s in name for s in unused_prefixes) and \
                p.grad.abs().sum() == 0:
            zero.append(name)
    assert not missing, f'no gradient: {missing[:5]}'
    assert not zero, f'zero gradient: {zero[:5]}'


def test_panoptic_loss_reaches_every_parameter(r18):
    r18.train()
    data = image_batch(r18, [(3, 64, 96), (3, 96, 64)], [3, 2])
    losses = r18(**data, mode='loss')
    assert {'loss_cls', 'loss_mask', 'loss_dice', 'd0.loss_cls',
            'd2.loss_dice'} <= set(losses)
    assert_grads(r18, losses, PROMPT_ONLY)


@pytest.mark.parametrize('kind', ['points', 'boxes'])
def test_prompt_loss_reaches_every_parameter(r18, kind):
    r18.train()
    data = add_prompts(
        image_batch(r18, [(3, 64, 96), (3, 64, 96)], [3, 2], False), kind)
    losses = r18(**data, mode='loss')
    assert 'loss_cls' not in losses
    assert {'loss_prompt_mask', 'loss_prompt_dice', 'loss_prompt_iou',
            'd0.loss_prompt_mask'} <= set(losses)
    unused = OBJECT_ONLY
    if kind == 'boxes':
        unused = unused + ('click_embed', )
    assert_grads(r18, losses, unused)


def test_video_loss_reaches_every_parameter(r18):
    r18.train()
    packed = demo_track_inputs(
        batch_size=2, num_frames=2, image_shapes=[(3, 64, 64)] * 2,
        num_items=[2, 3], num_classes=num_things(r18), with_mask=True)
    data = r18.data_preprocessor(packed, True)
    assert data['inputs'].shape == (2, 2, 3, 64, 64)
    losses = r18(**data, mode='loss')
    assert {'loss_cls', 'loss_mask', 'loss_dice'} <= set(losses)
    assert_grads(r18, losses, PROMPT_ONLY)


def test_predict_panoptic_and_prompts_in_one_pass(r18):
    r18.eval()
    data = add_prompts(
        image_batch(r18, [(3, 97, 131)], [2], False, training=False))
    with torch.no_grad():
        sample = r18(**data, mode='predict')[0]
    h, w = sample.ori_shape
    assert sample.pred_panoptic_seg.sem_seg.shape == (1, h, w)
    assert sample.pred_instances.masks.shape[1:] == (h, w)
    prompts = sample.pred_prompt_instances
    assert prompts.masks.shape == (2, h, w)
    assert prompts.masks.dtype == torch.bool
    assert ((prompts.iou_scores >= 0) & (prompts.iou_scores <= 1)).all()


def test_prompt_results_do_not_depend_on_other_prompts(r18):
    """Prompts are masked from each other and from object queries."""
    r18.eval()
    data = add_prompts(
        image_batch(r18, [(3, 64, 96)], [3], False, training=False))
    single = copy.deepcopy(data)
    single['data_samples'][0].prompt_instances = \
        data['data_samples'][0].prompt_instances[:1]
    with torch.no_grad():
        both = r18(**copy.deepcopy(data), mode='tensor')
        one = r18(**single, mode='tensor')
    torch.testing.assert_close(both['prompt_mask_logits'][-1][:, :1],
                               one['prompt_mask_logits'][-1],
                               rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(both['mask_logits'][-1],
                               one['mask_logits'][-1])


def test_predict_video_keeps_identities(r18):
    r18.eval()
    packed = demo_track_inputs(
        batch_size=1, num_frames=3, image_shapes=[(3, 64, 96)],
        num_items=[2], num_classes=num_things(r18), with_mask=True)
    data = r18.data_preprocessor(packed, False)
    with torch.no_grad():
        track = r18(**data, mode='predict')[0]
    ids = [frame.pred_track_instances.instances_id for frame in track]
    assert len(ids) == 3
    assert all(torch.equal(ids[0], i) for i in ids)
    frame = track[0].pred_track_instances
    assert frame.masks.shape == (10, 64, 96)
    assert frame.bboxes.shape == (10, 4)


def test_zero_prompts_give_empty_results(r18):
    r18.eval()
    data = image_batch(r18, [(3, 64, 64)], [1], False, training=False)
    data['data_samples'][0].prompt_instances = InstanceData(
        points=torch.zeros(0, 1, 2), point_labels=torch.zeros(0, 1).long())
    with torch.no_grad():
        sample = r18(**data, mode='predict')[0]
    assert sample.pred_prompt_instances.masks.shape == (0, 64, 64)
    assert 'pred_panoptic_seg' in sample


def test_prompt_outside_the_image_is_an_error(r18):
    r18.eval()
    data = image_batch(r18, [(3, 64, 64)], [1], False, training=False)
    data['data_samples'][0].prompt_instances = InstanceData(
        points=torch.tensor([[[10., 500.]]]), point_labels=torch.ones(1, 1))
    with pytest.raises(ValueError, match='outside the input image'):
        r18(**data, mode='predict')


def test_inverted_box_is_an_error(r18):
    r18.eval()
    data = image_batch(r18, [(3, 64, 64)], [1], False, training=False)
    data['data_samples'][0].prompt_instances = InstanceData(
        boxes=torch.tensor([[30., 30., 10., 40.]]))
    with pytest.raises(ValueError, match='x1 <= x2'):
        r18(**data, mode='predict')


def test_empty_ground_truth_gives_finite_losses(r18):
    r18.train()
    data = image_batch(r18, [(3, 64, 64)], [0], True)
    data['data_samples'][0].gt_sem_seg.sem_seg[:] = 255
    losses = r18(**data, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses['loss_mask'] == 0


def test_prompt_count_must_match_masks(r18):
    r18.train()
    data = add_prompts(image_batch(r18, [(3, 64, 64)], [2], False))
    sample = data['data_samples'][0]
    sample.prompt_instances = sample.prompt_instances[:1]
    with pytest.raises(ValueError, match='one mask per prompt'):
        r18(**data, mode='loss')


def test_eval_decodes_the_factored_map_to_the_same_outputs(r18):
    """In eval mode the decoder reads the neck's map factored; every
    layer's outputs and the video masks are those of the map itself."""
    r18.eval()
    data = add_prompts(
        image_batch(r18, [(3, 64, 96)], [2], False, training=False))
    with torch.no_grad():
        (factored, ) = r18.extract_feat(data['inputs'])
        (full, ) = r18.extract_feat(data['inputs'], factored=False)
        assert isinstance(factored, FactoredMap)
        assert isinstance(full, torch.Tensor)
        torch.testing.assert_close(factored.materialize(), full,
                                   rtol=1e-5, atol=1e-5)
        outputs = {}
        for flag in (False, True):
            r18.factored_map = flag
            outputs[flag] = r18(**copy.deepcopy(data), mode='tensor')
    r18.factored_map = True
    for key in ('cls_logits', 'mask_logits', 'prompt_mask_logits',
                'prompt_iou_logits'):
        for expected, got in zip(outputs[False][key], outputs[True][key]):
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-3)
    clip = r18.data_preprocessor(
        demo_track_inputs(batch_size=1, num_frames=2,
                          image_shapes=[(3, 64, 96)], num_items=[2],
                          num_classes=num_things(r18), with_mask=True),
        False)
    with torch.no_grad():
        videos = {}
        for flag in (False, True):
            r18.factored_map = flag
            videos[flag] = r18(**copy.deepcopy(clip), mode='tensor')
    r18.factored_map = True
    for expected, got in zip(videos[False], videos[True]):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-3)


def test_training_on_the_factored_map_gives_the_same_gradients():
    torch.manual_seed(0)
    model = MODELS.build(load_config(R18).model).train()
    data = image_batch(model, [(3, 64, 96)], [2])
    grads = {}
    for flag in (False, True):
        model.factored_map = flag
        assert isinstance(model.extract_feat(data['inputs'])[0],
                          FactoredMap) == flag
        torch.manual_seed(1)  # the same sampled points
        losses = model.loss(data['inputs'],
                            copy.deepcopy(data['data_samples']))
        model.zero_grad()
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        grads[flag] = {n: p.grad.clone() for n, p in model.named_parameters()
                       if p.grad is not None}
    assert grads[False].keys() == grads[True].keys()
    for name in ('neck.coord_conv.weight', 'neck.coord_conv.bias',
                 'neck.output_conv.weight', 'backbone.conv1.weight'):
        assert grads[True][name].abs().sum() > 0
    # float noise: each gradient within 1e-4 of its norm (3.5e-6 at most
    # when written)
    for name, expected in grads[False].items():
        error = (grads[True][name] - expected).norm()
        assert error <= 1e-4 * expected.norm(), (name, float(error))


class _Features(torch.nn.Module):

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.extract_feat(x)[0]


def test_export_graphs_keep_the_map(r18):
    r18.eval()
    x = torch.randn(1, 3, 64, 64)
    assert isinstance(r18.extract_feat(x, factored=False)[0], torch.Tensor)
    with torch.no_grad():
        traced = torch.jit.trace(_Features(r18), x)
        torch.testing.assert_close(
            traced(x), r18.extract_feat(x)[0].materialize(), rtol=1e-5,
            atol=1e-5)


def test_a_factored_map_from_a_neck_that_cannot_is_an_error(r18):
    model = copy.deepcopy(r18).eval()
    model.neck = torch.nn.Identity()
    x = torch.randn(1, 3, 64, 64)
    with pytest.raises(ValueError, match='Identity cannot give its map'):
        model.extract_feat(x, factored=True)
    # by default, such a neck's map as it gives it
    assert len(model.extract_feat(x)) == 4
