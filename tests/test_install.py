"""The installed stack as a fresh machine gets it from `make`."""

import re
from importlib.metadata import PackageNotFoundError, distribution

import pytest


def test_cv2_is_the_headless_build():
    # mediapipe asks for opencv-contrib-python, whose cv2 links libGL; the lock leaves it out so
    # `import cv2` works on machines without display libraries.
    with pytest.raises(PackageNotFoundError):
        distribution("opencv-contrib-python")
    import cv2

    assert re.search(r"GUI:\s+NONE", cv2.getBuildInformation())


def test_mediapipe_bundles_its_models():
    import mediapipe as mp

    assert mp.__version__ == "0.10.21"
    with mp.solutions.face_detection.FaceDetection(model_selection=1) as detector:
        assert detector is not None
