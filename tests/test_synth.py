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
    Nuisance,
    Shot,
    assign_rooms,
    sample_shots,
    second_session_look,
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
    # the newer label errors are drawn among persons without issues, and a copy's labels may drift
    # from its original's: both off here, where the issues are switched on and off
    kw = dict(persons=30, eval_persons=2, seed=5, image_size=SMALL, gender_noise=0.1, swap_noise=0.1,
              age_noise=0.1, workers=1, progress=False, age_near_noise=0, age_digit_noise=0,
              mask_photo_noise=0, refile_drift=0)
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


# --------------------------------------------------------------------- what real sessions vary

OFF = dict(mirror=0, exposure=0, white_balance=0, framing=0, jpeg_quality=0, sensor_noise=0,
           shared_rooms=0, second_room=0, refile_session=False, refile_drift=0, age_near_noise=0,
           age_digit_noise=0, mask_photo_noise=0)
# the Shot fields each per-photo knob draws
SHOT_FIELDS = {"mirror": ("mirrored",), "exposure": ("ev",), "white_balance": ("wb",),
               "framing": ("scale", "roll", "shift"), "jpeg_quality": ("quality",),
               "sensor_noise": ("noise", "noise_seed")}
_DEFAULT_SHOT = Shot()


def _truth(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "truth.csv", dtype={"person_id": str, "image_id": str}, keep_default_na=False)


@pytest.mark.parametrize("knob", list(SHOT_FIELDS))
def test_each_photo_nuisance_draws_its_own_fields_and_switches_off_alone(knob):
    people = sample_persons(6, seed=2, hard_rate=0)
    on = [sample_shots(p, 2, Nuisance()) for p in people]
    off = [sample_shots(p, 2, Nuisance(**{knob: 0})) for p in people]
    mine = SHOT_FIELDS[knob]
    for a, b in zip(on, off):
        for stem in STEMS:
            for name in Shot.__dataclass_fields__:
                if name in mine:
                    assert getattr(b[stem], name) == getattr(_DEFAULT_SHOT, name)
                else:  # the other nuisances' draws are untouched
                    assert getattr(b[stem], name) == getattr(a[stem], name), (knob, name)
    varied = [getattr(a[stem], mine[0]) != getattr(_DEFAULT_SHOT, mine[0]) for a in on for stem in STEMS]
    assert 0.1 < np.mean(varied)  # on by default, photo by photo
    if knob != "mirror":
        assert np.mean(varied) > 0.9


def test_photo_nuisances_change_the_pixels_and_off_is_no_shot():
    person = sample_person(0, "train", 2, hard_rate=0)
    look = sample_look(person, 0)
    base = render_photo(look, 0, np.random.default_rng(1), SMALL, mask_index=0)
    assert (render_photo(look, 0, np.random.default_rng(1), SMALL, mask_index=0, shot=Shot()) == base).all()
    mirrored = render_photo(look, 0, np.random.default_rng(1), SMALL, mask_index=0, shot=Shot(mirrored=True))
    assert (mirrored == base[:, ::-1]).all()
    diff = lambda shot: np.abs(render_photo(look, 0, np.random.default_rng(1), SMALL, mask_index=0,  # noqa: E731
                                            shot=shot).astype(int) - base).mean()
    assert diff(Shot(ev=1.0)) > 20 and diff(Shot(ev=-1.0)) > 20
    warm = render_photo(look, 0, np.random.default_rng(1), SMALL, mask_index=0, shot=Shot(wb=0.3))
    ratio = lambda img: img[..., 0].mean() / img[..., 2].mean()  # noqa: E731
    assert ratio(warm) > ratio(base) * 1.2
    assert diff(Shot(scale=1.2, roll=6, shift=(0.05, 0.0))) > 5
    assert 1 < diff(Shot(noise=4.0, noise_seed=3)) < 6


def test_room_assignment_shares_rooms_three_a_room_and_second_rooms_on_their_own_stream():
    people = sample_persons(30, seed=1)
    shared = assign_rooms(people, seed=1, shared_rooms=0.4, second_room=0.0)
    rooms = pd.Series([r.room for r in shared if r.room is not None])
    assert len(rooms) == 12 and (rooms.value_counts() == 3).all()
    both = assign_rooms(people, seed=1, shared_rooms=0.4, second_room=0.2)
    alone = assign_rooms(people, seed=1, shared_rooms=0.0, second_room=0.2)
    assert [r.room for r in both] == [r.room for r in shared]  # second rooms do not move shared ones
    assert [(r.second, r.elsewhere) for r in both] == [(r.second, r.elsewhere) for r in alone]
    away = [r for r in both if r.elsewhere]
    assert len(away) == 6 and all(1 <= len(r.elsewhere) <= 3 for r in away)
    assert all(r.of(r.elsewhere[0]) == r.second != r.room for r in away)
    assert all(r.room is None and not r.elsewhere for r in assign_rooms(people, seed=1, shared_rooms=0,
                                                                         second_room=0))


@pytest.fixture(scope="module")
def sessions(tmp_path_factory) -> dict[str, Path]:
    """The same 24 persons (+ 2 re-filed, 3 eval) with every nuisance at its default, with all
    of them off, and with the rooms only off."""
    root = tmp_path_factory.mktemp("sessions")
    kw = dict(persons=24, eval_persons=3, seed=6, image_size=SMALL, gender_noise=0.0, swap_noise=0.0,
              age_noise=0.0, duplicate_noise=0.09, workers=1, progress=False)
    out = {}
    for name, extra in (("on", {}), ("off", OFF), ("no_rooms", dict(shared_rooms=0, second_room=0)),
                        ("errors", dict(age_near_noise=0.09, age_digit_noise=0.09, mask_photo_noise=0.09,
                                        refile_drift=1.0))):
        generate(root / name, **kw, **extra)
        out[name] = root / name
    return out


def test_truth_records_rooms_sessions_and_mirroring(sessions):
    on, off = _truth(sessions["on"]), _truth(sessions["off"])
    assert {"room", "session", "mirrored"} <= set(on.columns)
    assert off["mirrored"].eq(0).all() and 0.1 < on["mirrored"].mean() < 0.45
    per_off = off.groupby("person_id")["room"].nunique()
    assert per_off.eq(1).all()  # one room per person ...
    assert off.groupby("room")["person_id"].nunique().eq(1).all()  # ... and nobody else's
    train = on[on["split"] == "train"]
    persons_per_room = train.groupby("room")["person_id"].nunique()
    assert persons_per_room.max() >= 3
    assert train.groupby("person_id")["room"].nunique().max() == 2  # some took photos elsewhere
    dups = on[on["noise"] == "duplicate_person"]
    assert dups["session"].eq(2).all() and on.loc[on["noise"] != "duplicate_person", "session"].eq(1).all()
    for pid, orig in dups.groupby("person_id")["duplicate_of"].first().items():  # another room
        assert not set(on.loc[on["person_id"] == pid, "room"]) & set(on.loc[on["person_id"] == orig, "room"])


def test_rooms_off_leaves_the_persons_in_their_own_rooms_untouched(sessions):
    on, plain = _files(sessions["on"]), _files(sessions["no_rooms"])
    truth, plain_truth = _truth(sessions["on"]), _truth(sessions["no_rooms"])
    moved = truth["room"].to_numpy() != plain_truth["room"].to_numpy()
    assert moved.any() and (truth["mirrored"].to_numpy() == plain_truth["mirrored"].to_numpy()).all()
    train = truth["split"] == "train"
    for image_id, m in zip(truth.loc[train, "image_id"], moved[train.to_numpy()]):
        (name,) = [k for k in on if k.startswith(f"train/images/{image_id}.")]
        assert (on[name] == plain[name]) != m, image_id  # a moved photo changes, the rest stays


def test_all_nuisances_off_changes_every_photo_but_not_the_labels(sessions):
    on, off = _truth(sessions["on"]), _truth(sessions["off"])
    labels = ["image_id", "person_id", "mask_given", "mask_true", "gender_given", "gender_true",
              "age_given", "age_true", "age_apparent", "noise"]
    assert not (on[labels].to_numpy() == off[labels].to_numpy()).all()  # copies' labels drift ...
    clean = on["noise"] != "duplicate_person"
    assert (on.loc[clean, labels].to_numpy() == off.loc[clean, labels].to_numpy()).all()
    a, b = _files(sessions["on"]), _files(sessions["off"])
    images = [k for k in a if "/images/" in k and k in b]  # a drifted copy's folder is renamed
    assert len(images) >= 0.9 * len(a) and np.mean([a[k] != b[k] for k in images]) > 0.95


def test_refiled_copy_is_a_second_session_with_other_masks():
    person = sample_person(0, "train", 3)
    look = sample_look(person, 0)
    copy = second_session_look(look, 0, sample_person(0, "train", 40))
    assert copy.masks != look.masks and len(copy.masks) == 5
    assert set(copy.masks) & set(look.masks)  # some masks are the same ones, in another order
    assert dataclasses_equal_but(look, copy, {"masks", "incorrect"})


def dataclasses_equal_but(a, b, fields: set[str]) -> bool:
    return all(getattr(a, f) == getattr(b, f) for f in a.__dataclass_fields__ if f not in fields)


def test_refile_session_off_keeps_the_masks_and_their_order(sessions, tmp_path):
    kw = dict(persons=24, eval_persons=3, seed=6, image_size=SMALL, gender_noise=0.0, swap_noise=0.0,
              age_noise=0.0, duplicate_noise=0.09, workers=1, progress=False)
    generate(tmp_path / "same", **kw, refile_session=False)
    on, same = _files(sessions["on"]), _files(tmp_path / "same")
    truth = _truth(sessions["on"])
    dups = truth[truth["noise"] == "duplicate_person"]
    assert dups["person_id"].nunique() == 2
    changed = []
    for image_id in truth["image_id"][truth["split"] == "train"]:
        (name,) = [k for k in on if k.startswith(f"train/images/{image_id}.")]
        if image_id in set(dups["image_id"]) and not image_id.endswith("/normal"):
            changed.append(on[name] != same[name])  # a mask kept in its place draws the same photo
        else:
            assert on[name] == same[name], image_id  # the rest, and the copies' maskless photo, stay
    assert np.mean(changed) >= 0.5


def test_label_errors_as_people_make_them(sessions):
    from pipeline.curation.metrics import person_truth

    t = _truth(sessions["errors"])
    base = _truth(sessions["on"])
    train = t[t["split"] == "train"]
    near = train[train["issue_detail"] == "near_edge"]
    digit = train[train["issue_detail"] == "digit_swap"]
    single = train[train["issue_detail"] == "single_mask"]
    assert near["person_id"].nunique() == digit["person_id"].nunique() == single["person_id"].nunique() == 2
    for rows in (near, digit):
        assert rows["noise"].eq("age_shift").all() and rows.groupby("person_id").size().eq(7).all()
        assert (age_bin(rows["age_given"], AGE_EDGES) != age_bin(rows["age_true"], AGE_EDGES)).all()
    assert (near["age_given"] - near["age_true"]).abs().between(1, 3).all()
    swapped = digit["age_true"] % 10 * 10 + digit["age_true"] // 10
    assert (digit["age_given"] == swapped).all()
    assert single["noise"].eq("mask_swap").all() and (single["mask_given"] != single["mask_true"]).all()
    others = train[train["person_id"].isin(single["person_id"]) & (train["issue_detail"] == "")]
    assert len(others) == 12 and (others["mask_given"] == others["mask_true"]).all()
    noisy = person_truth(t, age_edges=AGE_EDGES)  # the scorer (at the params edges) sees each error
    assert noisy.loc[single["person_id"].unique(), "mask"].all()
    assert noisy.loc[pd.concat([near, digit])["person_id"].unique(), "age"].all()
    # drifted copies: labels a year or two or a gender away from their original's first filing
    dups = train[train["noise"] == "duplicate_person"].groupby("person_id").first()
    assert set(dups["issue_detail"]) <= {"age_drift", "gender_drift"} and len(dups) == 2
    for pid, d in dups.iterrows():
        o = train[train["person_id"] == d["duplicate_of"]].iloc[0]
        if d["issue_detail"] == "age_drift":
            assert 1 <= abs(d["age_given"] - o["age_given"]) <= 2 and d["gender_given"] == o["gender_given"]
        else:
            assert d["gender_given"] != o["gender_given"] and d["age_given"] == o["age_given"]
    # off: none of them, and the persons without one keep their labels and photos
    assert set(base["issue_detail"]) <= {"", "age_drift", "gender_drift"}  # default: copies may drift
    touched = set(pd.concat([near, digit, single, train[train["noise"] == "duplicate_person"]])["person_id"])
    keep = ~t["person_id"].isin(touched)
    cols = ["image_id", "mask_given", "mask_true", "gender_given", "age_given", "room", "mirrored"]
    assert (t.loc[keep, cols].to_numpy() == base.loc[keep, cols].to_numpy()).all()
    a, b = _files(sessions["errors"]), _files(sessions["on"])
    unchanged = {k for k in a if k in b and a[k] == b[k]}
    for image_id in t.loc[keep & (t["split"] == "train"), "image_id"]:
        assert any(k.startswith(f"train/images/{image_id}.") for k in unchanged), image_id


def test_synth_params_and_cli_options_match_generate():
    import inspect

    from pipeline.params import Synth

    defaults = {k: v.default for k, v in inspect.signature(generate).parameters.items() if k in OFF}
    assert defaults.keys() == OFF.keys()
    fields = Synth.model_fields
    assert all(fields[k].default == v for k, v in defaults.items())
    import yaml
    params = yaml.safe_load((REPO / "params.yaml").read_text())["synth"]
    assert all(params[k] == v for k, v in defaults.items())
    base = dict(persons=1, eval_persons=0, image_size=(8, 8), gender_noise=0, swap_noise=0, age_noise=0)
    for bad in (dict(mirror=1.5), dict(jpeg_quality=101), dict(exposure=-0.1), dict(shared_rooms=2)):
        with pytest.raises(ValueError):
            Synth(**base, **bad)
    runner = CliRunner()
    args = ["synth", "--help"]
    text = runner.invoke(app, args).output
    for k in OFF:
        assert "--" + k.replace("_", "-") in text, k


def test_cli_switches_a_nuisance_off(tmp_path):
    runner = CliRunner()
    args = ["synth", "--persons", "3", "--eval-persons", "0", "--size", "48", "64", "--workers", "1",
            "--seed", "4"]
    for name, extra in (("on", ["--mirror", "0.9"]), ("off", ["--mirror", "0", "--no-refile-session"])):
        result = runner.invoke(app, [*args[:1], str(tmp_path / name), *args[1:], *extra])
        assert result.exit_code == 0, result.output
    assert _truth(tmp_path / "on")["mirrored"].mean() > 0.6
    assert _truth(tmp_path / "off")["mirrored"].eq(0).all()
