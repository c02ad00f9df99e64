"""Embedded synthetic dataset in the competition layout.

Procedural head-and-shoulders portraits drawn with OpenCV: seven photos per person (mask1-5 with
varied masks, incorrect_mask under the nose or on the chin, normal), shared identity and scene,
per-photo pose and lighting jitter. Gender and a continuous age are drawn as visual cues (hair,
face shape, brows; grey share, wrinkles, skin), label noise is injected on the train split, and
`truth.csv` records given and true labels for every image.

- `persons`: who is drawn and what their labels say (noise and issues chosen here);
- `session`: what real sessions vary (rooms, light, camera), each nuisance on its own stream;
- `render`: how they look, photo by photo;
- `write`: the files on disk (`generate`).
"""

from pipeline.data.synth.persons import AGE_EDGES, assign_noise, sample_person, sample_persons, shift_age
from pipeline.data.synth.render import (degrade, outlier_photo, render_person, render_photo, sample_look,
                                        second_session_look)
from pipeline.data.synth.session import Nuisance, Rooms, Shot, assign_rooms, sample_shots
from pipeline.data.synth.write import generate

__all__ = ["AGE_EDGES", "Nuisance", "Rooms", "Shot", "assign_noise", "assign_rooms", "degrade", "generate",
           "outlier_photo", "render_person", "render_photo", "sample_look", "sample_person", "sample_persons",
           "sample_shots", "second_session_look", "shift_age"]
