import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.data.imageio import read_rgb
from pipeline.data.ingest import (
    MANIFEST_COLUMNS,
    IngestError,
    PersonRow,
    assign_person_ids,
    ingest,
    match_folders,
    parse_folder_name,
)

STEMS = ("mask1", "mask2", "mask3", "mask4", "mask5", "incorrect_mask", "normal")
KOREAN = "000005_female_한국인_30"
REPO = Path(__file__).resolve().parents[1]


class Images:
    """Tiny noise images, each with different bytes."""

    def __init__(self) -> None:
        self.seed = 0

    def array(self, w: int = 16, h: int = 12) -> np.ndarray:
        self.seed += 1
        return np.random.default_rng(self.seed).integers(0, 256, (h, w, 3), dtype=np.uint8)

    def save(self, path: Path, image: Image.Image | None = None, **kwargs) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        (image or Image.fromarray(self.array())).save(path, **kwargs)
        return path

    def person(self, folder: Path, exts: dict[str, str] | str, skip: tuple[str, ...] = ()) -> None:
        for stem in STEMS:
            if stem not in skip:
                ext = exts if isinstance(exts, str) else exts[stem]
                self.save(folder / f"{stem}{ext}")


def upright_top_red() -> Image.Image:
    """24 x 16 upright picture: red top half, blue bottom half."""
    a = np.zeros((16, 24, 3), np.uint8)
    a[:8, :, 0] = 255
    a[8:, :, 2] = 255
    return Image.fromarray(a)


def build_layout(root: Path) -> None:
    img = Images()
    train = root / "train" / "images"
    (root / "train").mkdir(parents=True)
    (root / "train" / "train.csv").write_text(
        "id,gender,race,age,path\n"
        "000001,female,Asian,45,000001_female_Asian_45\n"  # line 2
        "000002,male,Asian,25,000002_male_Asian_25\n"
        "003397,male,Asian,58,003397_male_Asian_58\n"  # line 4: duplicate id, two persons
        "003397,female,Asian,20,003397_female_Asian_20\n"
        f"000005,female,한국인,30,{KOREAN}\n"  # line 6: non-ASCII, NFD on disk
        "000006,female,Asian,50,000006_male_Asian_50\n"  # line 7: folder says male
        "000007,male,Asian,33,000007_male_Asian_33\n"  # line 8: folder on disk is ..._38
        "000008,male,Asian,40,000008_male_Asian_40\n"  # line 9: no folder
        "000001,female,Asian,45,000001_female_Asian_45\n"  # line 10: exact duplicate row
        "000010,female,Asian,abc,000010_female_Asian_abc\n"  # line 11: bad age
        "000011,x,Asian,30,000011_x_Asian_30\n",  # line 12: unknown gender
        encoding="utf-8",
    )
    p1 = train / "000001_female_Asian_45"
    img.person(p1, ".jpg", skip=("mask1", "mask2"))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated; viewers turn it 90 degrees clockwise
    img.save(
        p1 / "mask1.jpg",
        upright_top_red().transpose(Image.Transpose.ROTATE_90),
        exif=exif.tobytes(),
        quality=95,
    )
    img.save(p1 / "mask2.jpg", Image.fromarray(img.array()).convert("L"))
    (p1 / "._mask1.jpg").write_bytes(b"\x00\x05\x16\x07 resource fork")
    (p1 / "notes.txt").write_text("hello")
    img.save(p1 / "mask5.png")  # second file for the same stem

    p2 = train / "000002_male_Asian_25"
    img.person(p2, ".png", skip=("mask3", "mask4", "mask5", "incorrect_mask", "normal"))
    rgba = np.dstack([img.array(), np.full((12, 16), 128, np.uint8)])
    img.save(p2 / "mask3.png", Image.fromarray(rgba, "RGBA"))
    (p2 / "mask4.png").write_bytes(np.random.default_rng(99).bytes(300))  # corrupt
    good = img.save(p2 / "mask5.png", Image.fromarray(img.array(64, 64))).read_bytes()
    (p2 / "mask5.png").write_bytes(good[: len(good) // 2])  # truncated
    (p2 / "incorrect_mask.png").write_bytes(b"")  # zero bytes; normal is missing

    img.person(train / "003397_male_Asian_58", ".jpeg")
    img.person(
        train / "003397_female_Asian_20",
        {s: ".jpg" if s < "mask5" and s.startswith("mask") else ".png" for s in STEMS},
    )
    img.person(train / unicodedata.normalize("NFD", KOREAN), ".jpg")
    img.person(train / "000006_male_Asian_50", ".jpg")
    img.person(train / "000007_male_Asian_38", ".png")
    img.save(train / "000009_male_Asian_40" / "mask1.jpg")  # not in train.csv
    (train / "._000001_female_Asian_45").write_bytes(b"\x00\x05\x16\x07")

    ev = root / "eval"
    (ev / "images").mkdir(parents=True)
    (ev / "info.csv").write_text("ImageID,ans\nc.jpg,0\na.jpg,0\nb.png,0\ngone.jpg,0\na.jpg,0\n")
    for name in ("a.jpg", "b.png", "c.jpg", "extra.jpg"):
        img.save(ev / "images" / name)
    (ev / "images" / "._a.jpg").write_bytes(b"\x00\x05\x16\x07")


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "root"
    build_layout(root)
    return root


@pytest.fixture(scope="module")
def result(layout):
    return ingest(layout, workers=1, progress=False)


def expected_train_ids() -> set[str]:
    full = [
        "003397_male_Asian_58",
        "003397_female_Asian_20",
        KOREAN,
        "000006_male_Asian_50",
        "000007_male_Asian_38",
        "000001_female_Asian_45",
    ]
    ids = {f"{f}/{s}" for f in full for s in STEMS}
    return ids | {f"000002_male_Asian_25/{s}" for s in ("mask1", "mask2", "mask3")}


def test_every_good_image_is_kept_and_nothing_else(result):
    train = result.manifest[result.manifest.split == "train"]
    assert set(train.image_id) == expected_train_ids()
    assert len(train) == len(expected_train_ids())
    assert all(Path(p).is_file() for p in result.manifest.path)


def test_manifest_columns_dtypes_and_order(result):
    m = result.manifest
    assert list(m.columns) == list(MANIFEST_COLUMNS)
    for c in ("mask", "gender", "age", "file_size", "width", "height"):
        assert m[c].dtype == np.int64, c
    for c in ("image_id", "person_id", "path", "split", "race", "ext", "sha1"):
        assert pd.api.types.is_string_dtype(m[c]), c
    train = m[m.split == "train"]
    folders = train.image_id.str.rsplit("/", n=1).str[0].tolist()
    stems = train.image_id.str.rsplit("/", n=1).str[1].map(STEMS.index).tolist()
    assert list(zip(folders, stems)) == sorted(zip(folders, stems))
    assert m.split.tolist() == ["train"] * len(train) + ["eval"] * 3
    assert m.sha1.str.len().eq(40).all() and m.file_size.gt(0).all()
    assert m.loc[m.image_id == "000002_male_Asian_25/mask3", "mask"].item() == 0
    assert m.loc[m.image_id == "000001_female_Asian_45/incorrect_mask", "mask"].item() == 1
    assert m.loc[
        m.image_id == "000001_female_Asian_45/normal", ["gender", "age", "race", "ext"]
    ].values.tolist() == [[1, 45, "Asian", ".jpg"]]


def test_eval_rows_follow_info_csv_order(result):
    ev = result.manifest[result.manifest.split == "eval"]
    assert ev.image_id.tolist() == ["c.jpg", "a.jpg", "b.png"]
    assert (ev[["mask", "gender", "age"]] == -1).all().all()
    assert (ev.person_id == "").all() and (ev.race == "").all()


T, E = "train/images/", "eval/images/"


@pytest.mark.parametrize(
    "where, reason, action",
    [
        (T + "000001_female_Asian_45/._mask1.jpg", "resource fork", "skipped"),
        (T + "._000001_female_Asian_45", "resource fork", "skipped"),
        (T + "000001_female_Asian_45/notes.txt", "unknown file name", "skipped"),
        (T + "000001_female_Asian_45/mask5.png", "duplicate image", "skipped"),
        (T + "000001_female_Asian_45/mask1.jpg", "EXIF orientation applied: 6", "kept"),
        (T + "000001_female_Asian_45/mask2.jpg", "converted to RGB: from mode L", "kept"),
        (T + "000002_male_Asian_25/mask3.png", "converted to RGB: from mode RGBA", "kept"),
        (T + "000002_male_Asian_25/mask4.png", "unreadable image", "skipped"),
        (T + "000002_male_Asian_25/mask5.png", "unreadable image", "skipped"),
        (T + "000002_male_Asian_25/incorrect_mask.png", "unreadable image: zero-byte", "skipped"),
        (T + "000002_male_Asian_25/normal.*", "missing image", "skipped"),
        (T + "003397_female_Asian_20", "mixed extensions", "kept"),
        (
            T + "000006_male_Asian_50",
            "folder name disagrees with train.csv: gender male vs female",
            "kept",
        ),
        (
            T + "000007_male_Asian_38",
            "folder name disagrees with train.csv: path '000007_male_Asian_33'",
            "kept",
        ),
        (T + unicodedata.normalize("NFD", KOREAN), "Unicode normalisation", "kept"),
        (T + "000008_male_Asian_40", "missing folder", "skipped"),
        (T + "000009_male_Asian_40", "folder not used", "skipped"),
        ("train/train.csv:5", "duplicate id: 003397 kept as person 003397-1", "kept"),
        ("train/train.csv:10", "duplicate row", "skipped"),
        ("train/train.csv:11", "bad age in train.csv: 'abc'", "skipped"),
        ("train/train.csv:12", "unknown gender in train.csv: 'x'", "skipped"),
        (E + "gone.jpg", "missing image", "skipped"),
        ("eval/info.csv:6", "duplicate ImageID", "skipped"),
        (E + "extra.jpg", "not listed in info.csv", "skipped"),
        (E + "._a.jpg", "resource fork", "skipped"),
    ],
)
def test_report_names_each_bad_input(result, layout, where, reason, action):
    rows = result.report[result.report.path == f"{layout.as_posix()}/{where}"]
    assert rows.reason.str.contains(reason, regex=False).any(), rows.reason.tolist()
    assert set(rows.action) == {action}


def test_report_has_nothing_on_clean_files(result, layout):
    clean = f"{layout.as_posix()}/{T}003397_male_Asian_58"
    assert not result.report.path.str.startswith(clean).any()
    assert list(result.report.columns) == ["path", "reason", "action"]


def test_exif_rotation_swaps_size_and_decodes_upright(result):
    row = result.manifest.set_index("image_id").loc["000001_female_Asian_45/mask1"]
    assert (row.width, row.height) == (24, 16)  # stored as 16 x 24
    image = read_rgb(row.path)
    assert image.shape == (16, 24, 3)
    top, bottom = image[:6].mean((0, 1)), image[-6:].mean((0, 1))
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60


def test_grayscale_and_rgba_come_out_rgb(result):
    m = result.manifest.set_index("image_id")
    for image_id in ("000001_female_Asian_45/mask2", "000002_male_Asian_25/mask3"):
        image = read_rgb(m.loc[image_id, "path"])
        assert image.shape == (12, 16, 3) and image.dtype == np.uint8


def test_duplicate_ids_stay_two_persons_with_their_own_labels(result):
    m = result.manifest[result.manifest.image_id.str.startswith("003397")]
    persons = m.groupby("person_id")[["gender", "age"]].first()
    assert persons.to_dict("index") == {
        "003397": {"gender": 0, "age": 58},
        "003397-1": {"gender": 1, "age": 20},
    }
    assert m.groupby("person_id").size().tolist() == [7, 7]


def test_train_csv_labels_win_over_folder_names(result):
    m = result.manifest
    assert set(m.loc[m.person_id == "000006", "gender"]) == {1}
    renamed = m[m.person_id == "000007"]
    assert (
        set(renamed.age) == {33} and renamed.image_id.str.startswith("000007_male_Asian_38/").all()
    )
    korean = m[m.person_id == "000005"]
    assert korean.image_id.str.startswith(KOREAN + "/").all() and len(korean) == 7
    assert set(korean.race) == {"한국인"}


def test_parallel_run_matches_serial(layout, result):
    parallel = ingest(layout, workers=2, progress=False)
    pd.testing.assert_frame_equal(parallel.manifest, result.manifest)
    pd.testing.assert_frame_equal(parallel.report, result.report)


def test_empty_root_raises_with_what_to_fix(tmp_path):
    with pytest.raises(IngestError, match="train/train.csv") as info:
        ingest(tmp_path, workers=1, progress=False)
    assert "no usable training images" in str(info.value)
    assert "mask1..mask5" in str(info.value)


def test_missing_root_raises(tmp_path):
    with pytest.raises(IngestError, match="does not exist"):
        ingest(tmp_path / "nope", workers=1, progress=False)


def test_all_images_bad_raises(tmp_path):
    (tmp_path / "train" / "images" / "000001_male_Asian_20").mkdir(parents=True)
    (tmp_path / "train" / "images" / "000001_male_Asian_20" / "mask1.jpg").write_bytes(b"")
    (tmp_path / "train" / "train.csv").write_text(
        "id,gender,race,age,path\n000001,male,Asian,20,000001_male_Asian_20\n"
    )
    with pytest.raises(IngestError, match="zero-byte"):
        ingest(tmp_path, workers=1, progress=False)


def test_relative_root_gives_paths_usable_from_cwd_and_missing_eval_is_reported(
    tmp_path, monkeypatch
):
    Images().person(tmp_path / "data" / "train" / "images" / "000001_male_Asian_20", ".jpg")
    (tmp_path / "data" / "train" / "train.csv").write_text(
        "id,gender,race,age,path\n000001,male,Asian,20,000001_male_Asian_20\n"
    )
    monkeypatch.chdir(tmp_path)
    out = ingest(Path("data"), workers=1, progress=False)
    assert out.manifest.path.iloc[0] == "data/train/images/000001_male_Asian_20/mask1.jpg"
    assert (out.manifest.split == "train").all() and len(out.manifest) == 7
    assert out.report.values.tolist() == [["data/eval", out.report.reason.iloc[0], "skipped"]]
    assert out.report.reason.iloc[0].startswith("no eval part")


def test_stage_writes_outputs_and_fails_loudly(tmp_path, write_params):
    # pyarrow 26 needs numpy>=2 while mediapipe 0.10.21 pins numpy<2; pyarrow<=25 works.
    pytest.importorskip("pyarrow", exc_type=ImportError)
    Images().person(tmp_path / "d" / "train" / "images" / "000001_male_Asian_20", ".png")
    (tmp_path / "d" / "train" / "train.csv").write_text(
        "id,gender,race,age,path\n000001,male,Asian,20,000001_male_Asian_20\n"
    )
    write_params(tmp_path, {"data": {"root": "d"}, "ingest": {"workers": 1}})
    run = subprocess.run(
        [sys.executable, str(REPO / "stages" / "ingest.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert len(pd.read_parquet(tmp_path / "data/interim/manifest.parquet")) == 7
    assert pd.read_csv(tmp_path / "data/interim/ingest_report.csv").columns.tolist() == [
        "path",
        "reason",
        "action",
    ]
    assert sorted(p.name for p in (tmp_path / "data/interim").iterdir()) == [
        "ingest_report.csv",
        "manifest.parquet",
    ]
    write_params(tmp_path, {"data": {"root": "missing"}})
    run = subprocess.run(
        [sys.executable, str(REPO / "stages" / "ingest.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    # the params check at the top of the stage names the key before any work
    assert run.returncode == 2 and "data.root = 'missing': no train/train.csv there" in run.stderr


def test_parse_folder_name():
    assert parse_folder_name("000001_female_Asian_45") == ("000001", "female", "Asian", 45)
    assert parse_folder_name("000001_female_South_Asian_45") == (
        "000001",
        "female",
        "South_Asian",
        45,
    )
    assert parse_folder_name("000001_female_Asian") is None
    assert parse_folder_name("000001_female_Asian_x") is None


def test_assign_person_ids():
    assert assign_person_ids(["1", "2", "1", "1"]) == ["1", "2", "1-1", "1-2"]


def test_match_folders_prefers_exact_then_unicode_then_same_id():
    row = lambda line, pid, path: PersonRow(line, pid, 0, "Asian", 20, path)  # noqa: E731
    nfd = unicodedata.normalize("NFD", "000002_male_한_20")
    rows = [
        row(2, "000001", "000001_male_Asian_20"),
        row(3, "000002", "000002_male_한_20"),
        row(4, "000003", "000003_male_Asian_20"),
        row(5, "000004", "000004_a"),
    ]
    disk = ["000001_male_Asian_20", nfd, "000003_male_Asian_21", "000004_b", "000004_c"]
    assert match_folders(rows, disk) == {
        2: ("000001_male_Asian_20", "exact"),
        3: (nfd, "unicode"),
        4: ("000003_male_Asian_21", "renamed"),
    }
