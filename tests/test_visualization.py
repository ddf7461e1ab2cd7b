"""Drawing: the mask overlay blends exactly as the plain formula says."""
import numpy as np
import pytest

from rap_sam.utils.visualization import colour_of, overlay_masks


def reference_overlay(image, masks, alpha, ids):
    """The blend written out: each mask in turn, in float32."""
    out = image.astype(np.float32)
    for mask, obj_id in zip(masks, ids):
        out = np.where(mask[..., None],
                       (1 - alpha) * out + alpha * colour_of(obj_id), out)
    return out.astype(np.uint8)


@pytest.mark.parametrize('alpha', [0.5, 0.3])
def test_overlay_matches_the_blend_formula(alpha):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:48, :64]
    masks = np.stack([
        (yy - 20)**2 + (xx - 30)**2 < 15**2,  # overlaps the next one
        (yy > 10) & (xx > 25),
        np.zeros((48, 64), bool),  # empty: drawn as nothing
        rng.random((48, 64)) > 0.7,  # scattered pixels
    ])
    ids = [3, 7, 9, 12]
    out = overlay_masks(image, masks, alpha, ids=ids)
    expected = reference_overlay(image, masks, alpha, ids)
    # OpenCV may round the product differently in the last float bit.
    assert np.abs(out.astype(int) - expected).max() <= 1
    assert (out != expected).mean() < 0.01
    untouched = ~masks.any(0)
    assert (out[untouched] == image[untouched]).all()
    assert (out[masks[1]] != image[masks[1]]).any()


def test_overlay_of_no_masks_is_the_image():
    image = np.full((8, 8, 3), 100, np.uint8)
    out = overlay_masks(image, np.zeros((0, 8, 8), bool))
    assert out.dtype == np.uint8 and (out == image).all()
