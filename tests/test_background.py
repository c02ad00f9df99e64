from pathlib import Path

import numpy as np
import pytest
from skimage import data

from pipeline.faces.background import load_segmenter, strip_background

FILL = (127, 127, 127)


def test_selfie_strips_background_and_keeps_face():
    image = data.astronaut()
    out = strip_background(image, load_segmenter("selfie"), FILL)
    assert out.shape == image.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - image.astype(int)).mean(axis=2)
    face = (slice(100, 170), slice(195, 255))  # eyes to mouth, read off the photo
    backdrop = (slice(10, 70), slice(330, 400))  # grey studio backdrop, right of the hair
    flag = (slice(20, 200), slice(0, 40))  # US flag, left edge
    assert diff[face].mean() < 5
    assert np.abs(out[backdrop].astype(int) - FILL).mean() < 10
    assert np.abs(out[flag].astype(int) - FILL).mean() < 10


def test_none_is_identity():
    image = data.astronaut()
    assert strip_background(image, load_segmenter("none"), FILL) is image


def _export_red_channel_model(path: Path) -> None:
    """A tiny u2net-shaped ONNX model: [1,3,320,320] -> [1,1,320,320] (plus a second side output
    like u2net's), foreground = the normalised red channel."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 1, 1)
            with torch.no_grad():
                self.conv.weight.copy_(torch.tensor([10.0, 0.0, 0.0]).view(1, 3, 1, 1))
                self.conv.bias.zero_()

        def forward(self, x):
            d0 = torch.sigmoid(self.conv(x))
            return d0, d0

    torch.onnx.export(Net().eval(), torch.zeros(1, 3, 320, 320), str(path), dynamo=False,
                      input_names=["input.1"], output_names=["d0", "d1"])


def test_rembg_custom_model(tmp_path):
    model = tmp_path / "u2net_tiny.onnx"
    _export_red_channel_model(model)
    image = np.zeros((60, 80, 3), np.uint8)
    image[:, :40] = (230, 30, 30)  # red half = foreground for this model
    image[:, 40:] = (30, 30, 230)
    out = strip_background(image, load_segmenter("rembg", rembg_model=model), FILL)
    assert out.shape == image.shape
    np.testing.assert_allclose(out[:, :35].mean((0, 1)), (230, 30, 30), atol=3)
    np.testing.assert_allclose(out[:, 45:].mean((0, 1)), FILL, atol=3)


def test_rembg_missing_model_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="u2net.onnx"):
        load_segmenter("rembg", rembg_model=tmp_path / "missing.onnx")


def test_unknown_background():
    with pytest.raises(ValueError, match="selfie"):
        load_segmenter("grabcut")
