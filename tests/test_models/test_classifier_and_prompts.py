"""Open-vocabulary classifier and prompt encoder."""
import pytest
import torch

from rap_sam.models import OpenVocabClassifier, PromptEncoder
from rap_sam.models.utils.class_embeddings import save_class_embeddings


def make_file(path, names, dims=16, synonyms=3):
    embeds = torch.randn(len(names), synonyms, dims)
    save_class_embeddings(str(path), embeds, names, model='test',
                          pretrained='random', templates=['{}'])
    return embeds


def test_logits_are_scaled_max_cosine_over_synonyms(tmp_path):
    embeds = make_file(tmp_path / 'e.pth', ['cat', 'dog'])
    clf = OpenVocabClassifier(str(tmp_path / 'e.pth'), embed_dims=16)
    q = torch.randn(1, 4, 16)
    logits = clf(q)
    assert logits.shape == (1, 4, 3)
    cos = torch.nn.functional.cosine_similarity(
        q[0, :, None, None], embeds[None], dim=-1)
    torch.testing.assert_close(logits[0, :, :2], cos.max(-1).values * 100,
                               rtol=1e-4, atol=1e-4)
    assert (logits[..., -1] == 0).all()  # background is a zero embedding


def test_class_names_reorder_the_file(tmp_path):
    make_file(tmp_path / 'e.pth', ['cat', 'dog', 'cow'])
    full = OpenVocabClassifier(str(tmp_path / 'e.pth'), embed_dims=16)
    sub = OpenVocabClassifier(str(tmp_path / 'e.pth'), ['cow', 'cat'],
                              embed_dims=16)
    assert sub.class_names == ['cow', 'cat']
    torch.testing.assert_close(sub.class_embeddings[0],
                               full.class_embeddings[2])


def test_embeddings_are_not_saved_in_checkpoints(tmp_path):
    make_file(tmp_path / 'e.pth', ['cat'])
    clf = OpenVocabClassifier(str(tmp_path / 'e.pth'), embed_dims=16)
    assert clf.state_dict() == {}


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / 'nope.pth'
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        OpenVocabClassifier(str(missing))


def test_missing_class_is_named(tmp_path):
    make_file(tmp_path / 'e.pth', ['cat'])
    with pytest.raises(ValueError, match='zebra'):
        OpenVocabClassifier(str(tmp_path / 'e.pth'), ['cat', 'zebra'],
                            embed_dims=16)


def test_dimension_mismatch_is_an_error(tmp_path):
    make_file(tmp_path / 'e.pth', ['cat'], dims=16)
    with pytest.raises(ValueError, match='embed_dims=768'):
        OpenVocabClassifier(str(tmp_path / 'e.pth'), embed_dims=768)


def test_no_file_and_no_random_flag_is_refused():
    with pytest.raises(ValueError, match='embedding_file'):
        OpenVocabClassifier(class_names=['cat'])


def test_prompt_encoder_points_boxes_and_padding():
    enc = PromptEncoder(embed_dims=32, num_pos_feats=16)
    points = torch.tensor([[[[10., 20.], [0., 0.]], [[30., 40.], [50., 5.]]]])
    labels = torch.tensor([[[1, -1], [1, 0]]])
    out = enc((64, 64), points=points, point_labels=labels)
    assert out.shape == (1, 2, 32)
    # A padded click does not change the query.
    alone = enc((64, 64), points=points[:, :1, :1], point_labels=labels[:, :1,
                                                                        :1])
    torch.testing.assert_close(out[:, :1], alone)
    boxes = torch.tensor([[[0., 0., 32., 32.], [10., 10., 20., 30.]]])
    out_boxes = enc((64, 64), boxes=boxes)
    assert out_boxes.shape == (1, 2, 32)
    assert not torch.allclose(out_boxes[:, 0], out_boxes[:, 1])
    with pytest.raises(ValueError, match='points or boxes'):
        enc((64, 64))


def test_prior_masks_cover_clicks_and_boxes():
    enc = PromptEncoder(embed_dims=32, num_pos_feats=16, point_size=8.)
    # 64x64 input, 16x16 features: pixel (i, j) has centre (4j + 2, 4i + 2).
    points = torch.tensor([[[[10., 21.], [50., 50.]], [[30., 40.], [0., 0.]]]])
    labels = torch.tensor([[[1, 0], [1, -1]]])
    priors = enc.prior_masks((64, 64), (16, 16), points=points,
                             point_labels=labels)
    assert priors.shape == (1, 2, 16, 16) and priors.dtype == torch.bool
    # centres within 4 px of (10, 21): x in {6, 10, 14}, y in {18, 22}.
    expected = torch.zeros(16, 16, dtype=torch.bool)
    expected[4:6, 1:4] = True
    assert torch.equal(priors[0, 0], expected)  # the negative click adds none
    assert priors[0, 1, 9:11, 7].all() and priors[0, 1].sum() == 6

    boxes = torch.tensor([[[8., 8., 24., 40.], [30., 30., 30.5, 30.5]]])
    box_priors = enc.prior_masks((64, 64), (16, 16), boxes=boxes)
    expected = torch.zeros(16, 16, dtype=torch.bool)
    expected[2:10, 2:6] = True  # centres 10..22 in x, 10..38 in y
    assert torch.equal(box_priors[0, 0], expected)
    assert box_priors[0, 1].any()  # thinner than a pixel: its centre window
    # A prompt with clicks and a box: the box region wins.
    both = enc.prior_masks((64, 64), (16, 16), points=points[:, :1],
                           point_labels=labels[:, :1], boxes=boxes[:, :1],
                           box_valid=torch.tensor([[True]]))
    assert torch.equal(both[0, 0], expected)
