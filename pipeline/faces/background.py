"""Background removal: a person-segmentation mask per image, background replaced by a fill colour.

Segmenters are plain callables `image RGB uint8 [H, W, 3] -> foreground probability float32 [H, W]`,
so the compositing is independent of the model: mediapipe selfie segmentation (bundled with
mediapipe 0.10.21) or rembg with a local u2net-style ONNX model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import typing
from pathlib import Path

import numpy as np

from pipeline.params import Background

Segmenter = Callable[[np.ndarray], np.ndarray]
BACKGROUNDS = typing.get_args(Background)
U2NET_URL = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2net.onnx"


def selfie_segmenter(model_selection: int = 1) -> Segmenter:
    """mediapipe selfie segmentation (0 = general 256x256, 1 = landscape 144x256).

    Landscape is the default: on whole portraits it keeps the face (mean mask >= 0.5 over the face
    box) far more often than the general model (docs/decisions.md)."""
    import mediapipe as mp

    seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=model_selection)

    def run(image: np.ndarray) -> np.ndarray:
        return np.asarray(seg.process(np.ascontiguousarray(image)).segmentation_mask, np.float32)

    return run


def check_background(background: str, rembg_model: str | Path | None = None) -> None:
    """Validate the option (and the rembg model file) without loading any model."""
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
    if background == "rembg" and (rembg_model is None or not Path(rembg_model).is_file()):
        raise FileNotFoundError(
            f"faces.background=rembg needs a local u2net ONNX model, but {str(rembg_model)!r} does "
            "not exist. `make install` puts U2-Net-p at weights/u2netp.onnx (the default); or download "
            f"one on a machine with internet ({U2NET_URL}), put it at that path (params.yaml "
            "faces.rembg_model), or set faces.background to selfie or none.")


def rembg_segmenter(model_path: str | Path | None) -> Segmenter:
    """rembg `u2net_custom` session on a local ONNX file (no download ever happens here)."""
    check_background("rembg", model_path)
    import rembg

    session = rembg.new_session("u2net_custom", model_path=str(model_path),
                                providers=["CPUExecutionProvider"])

    def run(image: np.ndarray) -> np.ndarray:
        mask = rembg.remove(np.ascontiguousarray(image), session=session, only_mask=True)
        return np.asarray(mask, np.float32) / 255.0

    return run


def load_segmenter(background: str, *, rembg_model: str | Path | None = None) -> Segmenter | None:
    """`selfie` | `rembg` | `none` -> a segmenter, or None for no background removal."""
    check_background(background, rembg_model)
    if background == "selfie":
        return selfie_segmenter()
    if background == "rembg":
        return rembg_segmenter(rembg_model)
    return None


def composite(image: np.ndarray, mask: np.ndarray,
              fill: Sequence[int] = (127, 127, 127)) -> np.ndarray:
    """Blend `image` toward `fill` by a soft foreground mask [H, W] (soft edges keep hair)."""
    m = np.clip(np.asarray(mask, np.float32), 0.0, 1.0)[..., None]
    fill_arr = np.asarray(fill, np.float32).reshape(1, 1, 3)
    return np.rint(image.astype(np.float32) * m + fill_arr * (1.0 - m)).astype(np.uint8)


def strip_background(image: np.ndarray, segmenter: Segmenter | None,
                     fill: Sequence[int] = (127, 127, 127)) -> np.ndarray:
    """Replace the background of `image` by `fill`; no segmenter = unchanged."""
    return image if segmenter is None else composite(image, segmenter(image), fill)
