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
