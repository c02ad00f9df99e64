import numpy as np
import pytest

from pipeline.features import embed


def test_features_are_the_head_after_six_pooled_blocks():
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (5, 48, 48, 3), dtype=np.uint8)
    feats = embed.extract(crops, sizes=(64,), batch=2)
    assert feats.shape == (5, 24 + 40 + 80 + 112 + 192 + 320 + embed.HEAD) == (5, embed.WIDTH)
    assert feats.dtype == np.float32 and embed.head(feats).shape == (5, embed.HEAD)
    # batching does not change an image's features; different images differ
    np.testing.assert_allclose(embed.extract(crops[2:3], sizes=(64,)), feats[2:3], rtol=1e-4, atol=1e-5)
    assert not np.allclose(feats[0], feats[1])


def test_sizes_are_concatenated_first_size_first_and_head_picks_a_sizes_part():
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)
    both = embed.extract(crops, sizes=(64, 96))
    assert both.shape == (3, 2 * embed.WIDTH)
    np.testing.assert_allclose(both[:, :embed.WIDTH], embed.extract(crops, sizes=(64,)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(both[:, embed.WIDTH:], embed.extract(crops, sizes=(96,)), rtol=1e-4, atol=1e-5)
    assert not np.allclose(both[:, :embed.WIDTH], both[:, embed.WIDTH:])  # another scale, other features
    np.testing.assert_array_equal(embed.head(both), both[:, embed.WIDTH - embed.HEAD:embed.WIDTH])
    np.testing.assert_array_equal(embed.head(both, -1), both[:, 2 * embed.WIDTH - embed.HEAD:])
    np.testing.assert_array_equal(embed.head(both, 1), embed.head(both, -1))
    with pytest.raises(IndexError, match="part 2 out of range for features of 2 input size"):
        embed.head(both, 2)
    with pytest.raises(ValueError, match="sizes"):
        embed.extract(crops, sizes=())


def test_pretrained_features_tell_a_face_from_noise():
    from skimage import data

    face = np.asarray(data.astronaut())[0:200, 150:350]  # her face, from scikit-image's photo
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, face.shape, dtype=np.uint8)
    feats = embed.extract(np.stack([face, face[:, ::-1].copy(), noise]), sizes=(128,))
    h = embed.head(feats)
    h = h / np.linalg.norm(h, axis=1, keepdims=True)
    assert h[0] @ h[1] > h[0] @ h[2] + 0.2  # the mirrored face is far nearer than noise


def test_age_band_is_the_top_half_enlarged_with_its_aspect():
    """The band's features are `extract`'s features of the crops' top rows resized by hand."""
    import torch

    rng = np.random.default_rng(2)
    crops = rng.integers(0, 256, (3, 40, 40, 3), dtype=np.uint8)
    band = embed.age_band(crops, width=64)
    assert band.shape == (3, embed.WIDTH) and band.dtype == np.float32
    top = torch.from_numpy(crops[:, :20].copy()).permute(0, 3, 1, 2).float()
    by_hand = torch.nn.functional.interpolate(top, size=(32, 64), mode="bilinear", align_corners=False)
    by_hand = by_hand.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()  # 64 x 32: the aspect kept
    expected = embed._run(by_hand, [lambda x: x], batch=64, weights=embed.WEIGHTS, progress=False, name="t")
    np.testing.assert_allclose(band, expected, rtol=0.05, atol=0.05)
    assert not np.allclose(band, embed.age_band(crops[:, ::-1].copy(), width=64))  # the bottom half is not it
    with pytest.raises(ValueError, match="width"):
        embed.age_band(crops, width=0)
