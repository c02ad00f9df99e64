import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.labels import GENDERS, STEMS, age_bin
from pipeline.data.synth import (
    AGE_EDGES,
    assign_noise,
    generate,
    render_person,
    render_photo,
    sample_look,
    sample_person,
    sample_persons,
    shift_age,
)

REPO = Path(__file__).resolve().parents[1]
SMALL = (64, 96)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def noisy(tmp_path_factory) -> tuple[Path, dict]:
    """10 persons with every noise kind present (2 persons each), 2 eval persons."""
    out = tmp_path_factory.mktemp("synth") / "noisy"
    stats = generate(out, persons=10, eval_persons=2, seed=3, image_size=SMALL, gender_noise=0.2,
                     swap_noise=0.2, age_noise=0.2, workers=1, progress=False)
    return out, stats


@pytest.fixture(scope="module")
def truth(noisy) -> pd.DataFrame:
    return pd.read_csv(noisy[0] / "truth.csv", dtype={"person_id": str, "image_id": str})


def test_same_seed_same_bytes_in_parallel_different_seed_differs(tmp_path):
    kw = dict(persons=4, eval_persons=1, image_size=SMALL, progress=False)
    for name, seed, workers in (("a", 1, 1), ("b", 1, 2), ("c", 2, 1)):
        generate(tmp_path / name, seed=seed, workers=workers, **kw)
    a, b, c = (_files(tmp_path / name) for name in "abc")
    assert a == b  # also: a process pool writes the same bytes as one process
    assert sum(k.startswith("train/images/") for k in a) == 28
    images = lambda files: [v for k, v in files.items() if "/images/" in k]  # noqa: E731
    assert not set(images(a)) & set(images(c))


def test_layout(noisy, truth):
    out, stats = noisy
    train = pd.read_csv(out / "train" / "train.csv", dtype=str)
    assert list(train.columns) == ["id", "gender", "race", "age", "path"]
    assert train["id"].tolist() == [f"{i:06d}" for i in range(1, 11)]
    for row in train.itertuples():
        files = sorted((out / "train" / "images" / row.path).iterdir())
        assert sorted(f.stem for f in files) == sorted(STEMS)
        assert len({f.suffix for f in files}) == 1  # one extension per person
        assert files[0].suffix in (".jpg", ".png", ".jpeg")
    info = pd.read_csv(out / "eval" / "info.csv")
    assert list(info.columns) == ["ImageID", "ans"] and (info["ans"] == 0).all()
    assert all(re.fullmatch(r"[0-9a-f]{40}\.jpg", i) for i in info["ImageID"])
    assert sorted(info["ImageID"]) == sorted(p.name for p in (out / "eval" / "images").iterdir())
    assert len(info) == 14 == stats["eval_images"]
    assert truth.loc[truth["split"] == "eval", "image_id"].tolist() == info["ImageID"].tolist()
    assert stats["images"] == len(truth) == 84


def test_every_truth_row_is_a_file_and_folders_carry_given_labels(noisy, truth):
    out, _ = noisy
    train = pd.read_csv(out / "train" / "train.csv", dtype=str).set_index("id")
    for r in truth.itertuples():
        if r.split == "eval":
            assert (out / "eval" / "images" / r.image_id).is_file()
            continue
        folder, stem = r.image_id.split("/")
        assert len(list((out / "train" / "images" / folder).glob(f"{stem}.*"))) == 1
        pid, gender, race, age = folder.split("_")
        assert (pid, GENDERS.index(gender), int(age)) == (r.person_id, r.gender_given, r.age_given)
        assert train.loc[pid, "path"] == folder
        assert (train.loc[pid, "gender"], int(train.loc[pid, "age"])) == (gender, int(age))
        assert r.mask_given == {"incorrect_mask": 1, "normal": 2}.get(stem, 0)


def test_given_and_true_differ_exactly_as_the_noise_says(noisy, truth):
    _, stats = noisy
    assert stats["noise_persons"] == {"gender_flip": 2, "mask_swap": 2, "age_shift": 2}
    fields = ("mask", "gender", "age")
    same = {f: truth[f"{f}_given"] == truth[f"{f}_true"] for f in fields}
    clean = truth["noise"] == "none"
    assert all(same[f][clean].all() for f in fields)
    for kind, field in (("gender_flip", "gender"), ("mask_swap", "mask"), ("age_shift", "age")):
        rows = truth["noise"] == kind
        assert (~same[field][rows]).all()
        assert all(same[f][rows].all() for f in fields if f != field)
    flips = truth[truth["noise"] == "gender_flip"]
    assert flips.groupby("person_id").size().eq(7).all()
    shifts = truth[truth["noise"] == "age_shift"]
    assert shifts.groupby("person_id").size().eq(7).all()
    assert (age_bin(shifts["age_given"], AGE_EDGES) != age_bin(shifts["age_true"], AGE_EDGES)).all()
    assert (shifts["age_given"] - shifts["age_true"]).abs().between(6, 15).all()
    swaps = truth[truth["noise"] == "mask_swap"]
    assert swaps.groupby("person_id").size().eq(2).all()
    assert (swaps["mask_given"] + swaps["mask_true"] == 3).all()  # incorrect (1) <-> normal (2)
    assert (truth.loc[truth["split"] == "eval", "noise"] == "none").all()


def test_swapped_files_hold_the_other_photo(noisy, truth, tmp_path):
    """Same seed without swap noise renders the same persons: the swapped person's two files
    are the clean run's files exchanged, byte for byte."""
    out, _ = noisy
    clean = tmp_path / "clean"
    generate(clean, persons=10, eval_persons=2, seed=3, image_size=SMALL, gender_noise=0.2,
             swap_noise=0.0, age_noise=0.2, workers=1, progress=False)
    for folder in truth.loc[truth["noise"] == "mask_swap", "image_id"].str.split("/").str[0].unique():
        noisy_dir, clean_dir = out / "train" / "images" / folder, clean / "train" / "images" / folder
        (inc,) = noisy_dir.glob("incorrect_mask.*")
        (nor,) = noisy_dir.glob("normal.*")
        assert inc.read_bytes() == (clean_dir / nor.name).read_bytes()
        assert nor.read_bytes() == (clean_dir / inc.name).read_bytes()
        assert inc.read_bytes() != nor.read_bytes()


def test_person_statistics_like_the_competition():
    people = sample_persons(5000, seed=0)
    ages = np.array([p.age for p in people])
    assert ages.min() == 18 and ages.max() == 60
    assert abs(np.mean([p.gender for p in people]) - 0.61) < 0.03
    assert abs(np.mean(ages == 60) - 0.071) < 0.015  # the whole ">=60" class is age 60
    for age, share in ((57, 0.039), (58, 0.059), (59, 0.031)):
        assert abs(np.mean(ages == age) - share) < 0.012
    assert abs(np.mean(ages < 30) - 0.47) < 0.04
    assert np.mean((ages >= 30) & (ages < 50)) < np.mean((ages >= 50) & (ages < 57))  # bimodal
    assert np.mean([p.race == "Asian" for p in people]) > 0.9
    exts = pd.Series([p.ext for p in people]).value_counts(normalize=True)
    assert exts["jpg"] > 0.75 and exts["png"] > 0.03 and exts["jpeg"] > 0.03
    assert 0.025 < np.mean([bool(p.hard) for p in people]) < 0.055
    assert [p.person_id for p in people[:3]] == ["000001", "000002", "000003"]
    assert sample_person(0, "train", 7) == people[7]


@pytest.mark.parametrize("age", range(18, 61))
def test_shift_age_crosses_a_bin_edge(age):
    rng = np.random.default_rng(age)
    for _ in range(5):
        given = shift_age(age, rng)
        assert 18 <= given <= 60 and abs(given - age) <= 15
        assert abs(given - age) >= 6 or given == 60  # 50-57 can only reach 58-60
        assert age_bin(given, AGE_EDGES) != age_bin(age, AGE_EDGES)


def test_noise_sets_are_disjoint_and_sized_by_rate():
    people = sample_persons(200, seed=0)
    given = assign_noise(people, seed=0, gender_noise=0.05, swap_noise=0.02, age_noise=0.03)
    kinds = pd.Series([g.noise for g in given]).value_counts()
    assert (kinds["gender_flip"], kinds["mask_swap"], kinds["age_shift"]) == (10, 4, 6)
    with pytest.raises(ValueError):
        assign_noise(people, seed=0, gender_noise=0.7, swap_noise=0.2, age_noise=0.2)


def test_mask_states_are_visible_on_the_lower_face():
    person = sample_person(0, "train", 1, hard_rate=0)
    look = sample_look(person, 0)
    shots = [render_photo(look, m, np.random.default_rng(5), (192, 256), mask_index=0)
             for m in (0, 1, 2)]
    lower = (slice(110, 150), slice(70, 122))  # mouth and chin of the canonical portrait
    upper = (slice(60, 95), slice(60, 132))  # forehead and eyes
    diff = lambda a, b, r: np.abs(a[r].astype(int) - b[r].astype(int)).mean()  # noqa: E731
    assert diff(shots[0], shots[2], lower) > 15
    assert diff(shots[1], shots[2], lower) > 5
    assert diff(shots[0], shots[2], upper) < diff(shots[0], shots[2], lower)


def test_mediapipe_finds_most_unmasked_and_masked_faces():
    import mediapipe as mp

    people = [p for p in sample_persons(8, seed=11, hard_rate=0)]
    photos = [render_person(p, seed=11) for p in people]
    for model in (0, 1):
        with mp.solutions.face_detection.FaceDetection(model_selection=model,
                                                       min_detection_confidence=0.5) as fd:
            normal = [bool(fd.process(ph["normal"]).detections) for ph in photos]
            masked = [bool(fd.process(ph["mask1"]).detections) for ph in photos]
        assert sum(normal) >= 7, (model, normal)
        assert sum(masked) >= 6, (model, masked)


def test_cli_writes_and_refuses_to_overwrite(tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["synth", str(out), "--persons", "3", "--eval-persons", "1", "--size", "48", "64",
            "--workers", "1", "--seed", "4", "--gender-noise", "0.34"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "28 images" in result.output and "gender_flip 1" in result.output
    truth = pd.read_csv(out / "truth.csv")
    assert (truth["noise"] == "gender_flip").sum() == 7
    assert runner.invoke(app, args).exit_code == 1
    assert runner.invoke(app, args + ["--overwrite"]).exit_code == 0


def test_stage_swaps_in_a_complete_dataset(tmp_path, write_params):
    params = {"seed": 2, "synth": {"persons": 2, "eval_persons": 1, "image_size": [48, 64],
                                   "gender_noise": 0.0, "swap_noise": 0.0, "age_noise": 0.0,
                                   "workers": 1}}
    write_params(tmp_path, params)
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    for _ in range(2):  # the second run replaces the first
        subprocess.run([sys.executable, str(REPO / "stages" / "synth.py")], cwd=tmp_path, env=env,
                       check=True, capture_output=True)
    out = tmp_path / "data" / "synthetic"
    assert len(pd.read_csv(out / "truth.csv")) == 21
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["synthetic"]


def test_duplicates_outliers_and_low_quality_leave_every_other_draw_alone(tmp_path):
    """Same seed with and without the new issue kinds: the label noise, the persons and every
    untouched photo are byte-identical; the duplicates are new ids after the eval ids whose truth
    names the original; spoiled images are one per person, among clean persons."""
    kw = dict(persons=30, eval_persons=2, seed=5, image_size=SMALL, gender_noise=0.1, swap_noise=0.1,
              age_noise=0.1, workers=1, progress=False)
    generate(tmp_path / "plain", **kw)
    stats = generate(tmp_path / "issues", duplicate_noise=0.1, outlier_noise=0.02, quality_noise=0.03, **kw)
    assert stats["issues"] == {"duplicate_person": 3, "outlier_image": 4, "low_quality": 6}
    plain = pd.read_csv(tmp_path / "plain" / "truth.csv", dtype={"person_id": str, "image_id": str})
    new = pd.read_csv(tmp_path / "issues" / "truth.csv", dtype={"person_id": str, "image_id": str},
                      keep_default_na=False)
    assert stats["noise_persons"] == {"gender_flip": 3, "mask_swap": 3, "age_shift": 3}
    same = new.set_index("image_id").loc[plain["image_id"]]
    cols = ["person_id", "mask_given", "mask_true", "gender_given", "gender_true", "age_given", "age_true",
            "age_apparent"]
    assert (same[cols].to_numpy() == plain[cols].to_numpy()).all()  # labels and age cues unchanged
    spoiled = new[new["noise"].isin(["outlier_image", "low_quality"])]
    assert spoiled["person_id"].is_unique and (spoiled["issue_detail"] != "").all()
    assert set(plain.set_index("image_id").loc[spoiled["image_id"], "noise"]) == {"none"}
    a, b = _files(tmp_path / "plain"), _files(tmp_path / "issues")
    touched = {f"train/images/{i}" for i in spoiled["image_id"]}
    for name, data in a.items():
        if name.startswith("train/images/") and name.rsplit(".", 1)[0] not in touched:
            assert b[name] == data, name
    dups = new[new["noise"] == "duplicate_person"]
    assert dups["person_id"].nunique() == 3 and (dups["person_id"].astype(int) > 32).all()
    originals = new[new["person_id"].isin(dups["duplicate_of"])]
    assert set(originals["noise"]) == {"none"}
    for pid, orig in dups.groupby("person_id")["duplicate_of"].first().items():
        o = new[new["person_id"] == orig].iloc[0]
        d = new[new["person_id"] == pid].iloc[0]
        assert (d["gender_given"], d["age_given"], d["age_apparent"]) == (o["gender_given"], o["age_given"],
                                                                           o["age_apparent"])
    train_csv = pd.read_csv(tmp_path / "issues" / "train" / "train.csv", dtype=str)
    assert len(train_csv) == 33 and set(dups["person_id"]) <= set(train_csv["id"])
