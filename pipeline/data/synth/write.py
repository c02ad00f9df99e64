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
from pipeline.workers import process_pool
from pipeline.data.synth.persons import (ISSUE_KINDS, NOISE_KINDS, AGE_EDGES, Given, Person, assign_issues,
                                         assign_noise, folder_name, sample_persons)
from pipeline.data.synth.render import degrade, outlier_photo, render_person, sample_look


TRUTH_COLUMNS = [
    "split", "image_id", "person_id", "mask_given", "mask_true", "gender_given", "gender_true",
    "age_given", "age_true", "age_apparent", "noise", "duplicate_of", "issue_detail",
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


def _write_person(job: _Job) -> list[dict]:
    """Render one person, write its seven files, return its truth rows (stem order)."""
    cv2.setNumThreads(1)
    p, g = job.person, job.given
    # the age the drawing shows: the ceiling of any age perceiver
    look = sample_look(job.original or p, job.seed)
    if job.original is not None:
        look = dataclasses.replace(look, scene_seed=job.scene_seed)
    photos = render_person(p, seed=job.seed, image_size=job.image_size, look=look)
    spoiled = {stem: (kind, detail) for stem, kind, detail in job.issues}
    for stem, (kind, detail) in spoiled.items():
        number = p.index * len(STEMS) + STEMS.index(stem)
        if kind == "outlier_image":
            photos[stem] = outlier_photo(detail, MASK_FILES[stem], job.seed, number, job.image_size)
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
        write_rgb(path, photos[shown], quality=look.quality)
        rows.append(dict(
            split=p.split, image_id=image_id, person_id=p.person_id,
            mask_given=MASK_FILES[stem], mask_true=MASK_FILES[shown],
            gender_given=g.gender, gender_true=p.gender, age_given=g.age, age_true=p.age,
            age_apparent=round(look.age, 2),
            noise=("duplicate_person" if job.original is not None else spoiled[stem][0] if stem in spoiled
                   else g.noise if g.noise != "mask_swap" or stem != shown else "none"),
            duplicate_of=job.original.person_id if job.original is not None else "",
            issue_detail=spoiled[stem][1] if stem in spoiled else "",
        ))
    return rows


def generate(out: Path, *, persons: int, eval_persons: int, seed: int = 0,
             image_size: tuple[int, int] = (192, 256), gender_noise: float = 0.05,
             swap_noise: float = 0.02, age_noise: float = 0.03, duplicate_noise: float = 0.0,
             outlier_noise: float = 0.0, quality_noise: float = 0.0, workers: int = 0,
             hard_rate: float = 0.04, age_edges: tuple[int, int] = AGE_EDGES,
             overwrite: bool = False, progress: bool = True) -> dict:
    """Write the synthetic dataset under `out` (competition layout + truth.csv) and return
    stats. Same seed and options -> identical files; `workers=0` uses all cores.

    `duplicate_noise` (share of train persons) files persons again under new ids after the eval
    ids (the same appearance in a new photo session); `outlier_noise` / `quality_noise` (shares
    of train images) replace images by a stranger or an empty room / spoil them (dark,
    overexposed, blurred, tiny). They use their own random streams: everything else is the same
    with or without them."""
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
    spoiled: dict[int, tuple[tuple[str, str, str], ...]] = {}
    for i, stem, kind, detail in issues.images:
        spoiled[i] = spoiled.get(i, ()) + ((stem, kind, detail),)
    dups = [dataclasses.replace(train[i], index=persons + k,
                                person_id=f"{persons + eval_persons + k + 1:06d}")
            for k, i in enumerate(issues.duplicates)]
    given += [given[i] for i in issues.duplicates] + [Given(p.gender, p.age, "none") for p in evals]
    originals = [None] * persons + [train[i] for i in issues.duplicates] + [None] * len(evals)
    scenes = [0] * persons + list(issues.scene_seeds) + [0] * len(evals)
    jobs = [_Job(p, g, str(out), seed, image_size, o, sc, spoiled.get(p.index, ()) if p.split == "train"
                 and o is None else ())
            for p, g, o, sc in zip(train + dups + evals, given, originals, scenes)]
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
    kinds = [g.noise for g in given[:persons]]
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
        "hard_persons": sum(bool(p.hard) for p in train + evals),
        "female_share": round(float(np.mean([p.gender for p in train + evals])), 3) if jobs else 0,
        "age_bins_true": np.bincount(age_bin([p.age for p in train], age_edges), minlength=3)
        .tolist() if train else [0, 0, 0],
    }


def _run(jobs: list[_Job], workers: int, progress: bool) -> list[list[dict]]:
    from rich.progress import Progress

    results: list[list[dict]] = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("synth: rendering persons", total=len(jobs))
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                results.append(_write_person(job))
                bar.advance(task)
        else:
            chunk = max(1, min(8, len(jobs) // (workers * 4)))
            with process_pool(workers) as pool:
                for rows in pool.map(_write_person, jobs, chunksize=chunk):
                    results.append(rows)
                    bar.advance(task)
    return results
