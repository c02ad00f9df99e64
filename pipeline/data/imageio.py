"""Image decoding shared by every stage: always RGB uint8, EXIF orientation applied."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps


class ImageReadError(Exception):
    """An image file that cannot be decoded (empty, truncated, not an image)."""


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode `path` to an RGB uint8 array [H, W, 3]; grayscale/RGBA/palette are converted,
    EXIF rotation is applied. Raises ImageReadError with the reason."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageReadError("zero-byte file")
        with Image.open(path) as im:
            im.load()  # forces a full decode: truncated files fail here, not later
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "P"):
                im = im.convert("RGBA")
                background = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(background, im)
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except ImageReadError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise ImageReadError(f"cannot decode image: {e}") from e


def write_rgb(path: str | Path, image: np.ndarray, quality: int = 92) -> None:
    """Write an RGB uint8 array; format from the suffix."""
    im = Image.fromarray(np.asarray(image, dtype=np.uint8))
    kwargs = {"quality": quality} if Path(path).suffix.lower() in (".jpg", ".jpeg") else {}
    im.save(path, **kwargs)
