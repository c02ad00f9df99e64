"""The synthetic dataset on disk: seven files per person in the competition layout, train.csv,
eval/info.csv and truth.csv (given and true labels of every image), rendered by worker processes."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from pipeline.data.imageio import write_rgb
from pipeline.labels import GENDERS, MASK_FILES, STEMS, age_bin
from pipeline.progress import track
from pipeline.workers import pool_map
from pipeline.data.synth.persons import (ISSUE_KINDS, LABEL_ERRORS, NOISE_KINDS, AGE_EDGES, REFILE_DRIFTS,
                                         Given, Person, assign_issues, assign_label_errors, assign_noise,
                                         folder_name, drift_labels, sample_persons)
from pipeline.data.synth.render import (degrade, outlier_photo, render_person, sample_look,
                                        second_session_look)
from pipeline.data.synth.session import Nuisance, Rooms, Shot, assign_rooms, sample_shots


TRUTH_COLUMNS = [
    "split", "image_id", "person_id", "mask_given", "mask_true", "gender_given", "gender_true",
    "age_given", "age_true", "age_apparent", "noise", "duplicate_of", "issue_detail",
    # where and how each photo was taken: the room's scene seed (-1: an outlier photo from
    # elsewhere), the filing (1, or 2 for a re-filed copy), mirrored by a front camera (0/1)
    "room", "session", "mirrored",
]

@dataclass(frozen=True)
class _Job:
    person: Person
    given: Given
    out: str
    seed: int
    image_size: tuple[int, int]
    original: Person | None = None  # a duplicate: the person whose appearance it shows
    scene_seed: int = 0  # a duplicate's own photo session
    issues: tuple[tuple[str, str, str], ...] = ()  # (stem, noise kind, detail) per spoiled image
    shots: tuple[tuple[str, Shot], ...] = ()  # each stem's room, light and camera
    single: tuple[str, int] | None = None  # (stem, true mask state) of a single wrong-mask photo
    second_session: bool = False  # a re-filed copy wears other masks in another order


def _write_person(job: _Job) -> list[dict]:
    """Render one person, write its seven files, return its truth rows (stem order)."""
    cv2.setNumThreads(1)
    p, g = job.person, job.given
    # the age the drawing shows: the ceiling of any age perceiver
    look = sample_look(job.original or p, job.seed)
    if job.original is not None:
        look = dataclasses.replace(look, scene_seed=job.scene_seed)
        if job.second_session:
            look = second_session_look(look, job.seed, p)
    shots = dict(job.shots)
    mask_states = dict([job.single]) if job.single else {}
    photos = render_person(p, seed=job.seed, image_size=job.image_size, look=look, shots=shots,
                           mask_states=mask_states)
    spoiled = {stem: (kind, detail) for stem, kind, detail in job.issues}
    for stem, (kind, detail) in spoiled.items():
        number = p.index * len(STEMS) + STEMS.index(stem)
        if kind == "outlier_image":
            photos[stem] = outlier_photo(detail, MASK_FILES[stem], job.seed, number, job.image_size,
                                         shot=shots.get(stem))
        else:
            rng = np.random.default_rng([job.seed, 7937, p.index, STEMS.index(stem)])
            photos[stem] = degrade(photos[stem], detail, rng)
    swapped = g.noise == "mask_swap"
    rows = []
    for i, stem in enumerate(STEMS):
        shown = {"incorrect_mask": "normal", "normal": "incorrect_mask"}.get(stem, stem) \
            if swapped else stem
        if p.split == "train":
            folder = folder_name(p, g)
            path = Path(job.out, "train", "images", folder, f"{stem}.{p.ext}")
            image_id = f"{folder}/{stem}"
        else:
            path = Path(job.out, "eval", "images", p.image_ids[i])
            image_id = p.image_ids[i]
        path.parent.mkdir(parents=True, exist_ok=True)
        shot = shots.get(shown, Shot())
        write_rgb(path, photos[shown], quality=shot.quality or look.quality)
        mask_true = mask_states.get(shown, MASK_FILES[shown])
        if job.original is not None:
            noise, detail = "duplicate_person", g.detail
        elif stem in spoiled:
            noise, detail = spoiled[stem]
        elif job.single:
            noise, detail = ("mask_swap", "single_mask") if stem == job.single[0] else ("none", "")
        else:
            noise = g.noise if g.noise != "mask_swap" or stem != shown else "none"
            detail = g.detail if noise != "none" else ""
        rows.append(dict(
            split=p.split, image_id=image_id, person_id=p.person_id,
            mask_given=MASK_FILES[stem], mask_true=mask_true,
            gender_given=g.gender, gender_true=p.gender, age_given=g.age, age_true=p.age,
            age_apparent=round(look.age, 2), noise=noise,
            duplicate_of=job.original.person_id if job.original is not None else "",
            issue_detail=detail,
            room=-1 if spoiled.get(shown, ("",))[0] == "outlier_image"
            else look.scene_seed if shot.room is None else shot.room,
            session=2 if job.original is not None else 1, mirrored=int(shot.mirrored),
        ))
    return rows


def generate(out: Path, *, persons: int, eval_persons: int, seed: int = 0,
             image_size: tuple[int, int] = (192, 256), gender_noise: float = 0.05,
             swap_noise: float = 0.02, age_noise: float = 0.03, duplicate_noise: float = 0.0,
             outlier_noise: float = 0.0, quality_noise: float = 0.0, workers: int = 0,
             hard_rate: float = 0.04, age_edges: tuple[int, int] = AGE_EDGES,
             mirror: float = 0.25, exposure: float = 0.3, white_balance: float = 0.08,
             framing: float = 1.0, jpeg_quality: int = 60, sensor_noise: float = 3.0,
             shared_rooms: float = 0.3, second_room: float = 0.1, refile_session: bool = True,
             refile_drift: float = 0.3, age_near_noise: float = 0.02, age_digit_noise: float = 0.005,
             mask_photo_noise: float = 0.01,
             overwrite: bool = False, progress: bool = True) -> dict:
    """Write the synthetic dataset under `out` (competition layout + truth.csv) and return
    stats. Same seed and options -> identical files; `workers=0` uses all cores.

    `duplicate_noise` (share of train persons) files persons again under new ids after the eval
    ids (the same appearance in a new photo session); `outlier_noise` / `quality_noise` (shares
    of train images) replace images by a stranger or an empty room / spoil them (dark,
    overexposed, blurred, tiny). They use their own random streams: everything else is the same
    with or without them.

    What real sessions vary, each on its own random stream and off at 0 / False (`session`):
    per photo `mirror` (probability, front camera), `exposure` (sd in stops, per session and
    per photo), `white_balance` (sd of log red/blue), `framing` (1 = hand-held scale, offset and
    roll), `jpeg_quality` (lowest quality, up to 95), `sensor_noise` (sd in 8-bit levels);
    `shared_rooms` (share of persons photographed three to a room), `second_room` (share of
    persons with 1-3 photos from another room); a re-filed copy is a second session
    (`refile_session`: other masks in another order) whose labels differ from the first filing
    with probability `refile_drift` (age 1-2 years, or gender). Label errors as people make them,
    among persons without other noise (shares of train persons): `age_near_noise` (1-3 years
    across 30 or 58), `age_digit_noise` (25 <-> 52), `mask_photo_noise` (one photo in another mask
    state than its name); truth keeps the noise kind that scores them (age_shift, mask_swap)
    and the error in `issue_detail`."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} is not empty (overwrite=True, or --overwrite on the CLI)")
        shutil.rmtree(out)
    (out / "train" / "images").mkdir(parents=True, exist_ok=True)
    (out / "eval" / "images").mkdir(parents=True, exist_ok=True)
    image_size = (int(image_size[0]), int(image_size[1]))

    train = sample_persons(persons, seed=seed, split="train", hard_rate=hard_rate)
    evals = sample_persons(eval_persons, seed=seed, split="eval", id_offset=persons,
                           hard_rate=hard_rate)
    given = assign_noise(train, seed=seed, gender_noise=gender_noise, swap_noise=swap_noise,
                         age_noise=age_noise, age_edges=age_edges)
    issues = assign_issues(train, given, seed=seed, duplicate_noise=duplicate_noise,
                           outlier_noise=outlier_noise, quality_noise=quality_noise)
    given, singles = assign_label_errors(train, given, issues, seed=seed, age_near_noise=age_near_noise,
                                         age_digit_noise=age_digit_noise, mask_photo_noise=mask_photo_noise,
                                         age_edges=age_edges)
    nuisance = Nuisance(mirror=mirror, exposure=exposure, white_balance=white_balance, framing=framing,
                        jpeg_quality=int(jpeg_quality), sensor_noise=sensor_noise)
    rooms = (assign_rooms(train, seed=seed, shared_rooms=shared_rooms, second_room=second_room)
             + [Rooms()] * len(issues.duplicates)
             + assign_rooms(evals, seed=seed, shared_rooms=shared_rooms, second_room=second_room))
    spoiled: dict[int, tuple[tuple[str, str, str], ...]] = {}
    for i, stem, kind, detail in issues.images:
        spoiled[i] = spoiled.get(i, ()) + ((stem, kind, detail),)
    dups = [dataclasses.replace(train[i], index=persons + k,
                                person_id=f"{persons + eval_persons + k + 1:06d}")
            for k, i in enumerate(issues.duplicates)]
    given += [drift_labels(given[i], seed=seed, copy=k, rate=refile_drift)
              for k, i in enumerate(issues.duplicates)] + [Given(p.gender, p.age, "none") for p in evals]
    originals = [None] * persons + [train[i] for i in issues.duplicates] + [None] * len(evals)
    scenes = [0] * persons + list(issues.scene_seeds) + [0] * len(evals)
    jobs = [_Job(p, g, str(out), seed, image_size, o, sc,
                 spoiled.get(p.index, ()) if p.split == "train" and o is None else (),
                 tuple(sample_shots(p, seed, nuisance, r).items()),
                 singles.get(p.index) if p.split == "train" and o is None else None,
                 o is not None and bool(refile_session))
            for p, g, o, sc, r in zip(train + dups + evals, given, originals, scenes, rooms)]
    train_all = train + dups

    workers = workers or os.cpu_count() or 1
    start = time.perf_counter()
    results = _run(jobs, workers, progress)
    seconds = time.perf_counter() - start

    truth = pd.DataFrame([row for rows in results for row in rows], columns=TRUTH_COLUMNS)
    n_train = len(train_all)
    train_csv = pd.DataFrame({
        "id": [p.person_id for p in train_all],
        "gender": [GENDERS[g.gender] for g in given[:n_train]],
        "race": [p.race for p in train_all],
        "age": [g.age for g in given[:n_train]],
        "path": [folder_name(p, g) for p, g in zip(train_all, given)],
    })
    train_csv.to_csv(out / "train" / "train.csv", index=False)
    is_eval = truth["split"] == "eval"
    order = np.random.default_rng([seed, 104729]).permutation(int(is_eval.sum()))
    eval_rows = truth[is_eval].iloc[order]
    pd.DataFrame({"ImageID": eval_rows["image_id"], "ans": 0}).to_csv(
        out / "eval" / "info.csv", index=False)
    truth = pd.concat([truth[~is_eval], eval_rows], ignore_index=True)
    truth.to_csv(out / "truth.csv", index=False)

    train_truth = truth[~truth["split"].eq("eval")]
    kinds = [g.noise for g in given[:persons] if not g.detail]
    details = [g.detail for g in given[:n_train]] + ["single_mask"] * len(singles)
    return {
        "out": str(out), "seed": seed, "image_size": list(image_size),
        "persons": persons, "eval_persons": eval_persons,
        "images": len(truth), "train_images": len(train_truth), "eval_images": int(is_eval.sum()),
        "seconds": round(seconds, 2), "images_per_s": round(len(truth) / max(seconds, 1e-9), 1),
        "workers": workers,
        "noise_persons": {k: kinds.count(k) for k in NOISE_KINDS if k != "none"},
        "noisy_images": int(train_truth["noise"].isin(NOISE_KINDS[1:]).sum()),
        "issues": {"duplicate_person": len(issues.duplicates),
                   **{k: sum(kind == k for _, _, kind, _ in issues.images) for k in ISSUE_KINDS[1:]}},
        "label_errors": {k: details.count(k) for k in (*LABEL_ERRORS, *REFILE_DRIFTS)},
        "hard_persons": sum(bool(p.hard) for p in train + evals),
        "shared_room_persons": sum(r.room is not None for r in rooms),
        "second_room_persons": sum(bool(r.elsewhere) for r in rooms),
        "mirrored_images": int(truth["mirrored"].sum()),
        "female_share": round(float(np.mean([p.gender for p in train + evals])), 3) if jobs else 0,
        "age_bins_true": np.bincount(age_bin([p.age for p in train], age_edges), minlength=3)
        .tolist() if train else [0, 0, 0],
    }


def _run(jobs: list[_Job], workers: int, progress: bool) -> list[list[dict]]:
    chunk = max(1, min(8, len(jobs) // (max(workers, 1) * 4)))
    with track("synth: rendering persons", len(jobs), enabled=progress) as advance:
        return pool_map(_write_person, jobs, workers=workers, chunksize=chunk, advance=advance)
