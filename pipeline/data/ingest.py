"""Competition layout -> manifest: one validated row per usable image, plus a report that names
every skipped or odd file with its reason.

Layout under the data root: `train/train.csv` (id,gender,race,age,path), `train/images/<path>/`
with `mask1..mask5`, `incorrect_mask`, `normal` (.jpg/.jpeg/.png), and optionally
`eval/info.csv` (ImageID,ans) with `eval/images/<ImageID>`. train.csv is the label table; folder
names are only used to find the images.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from PIL import Image
from rich.table import Table

from pipeline.data.imageio import ImageReadError, read_rgb
from pipeline.labels import GENDERS, MASK_FILES, STEMS, gender_code, mask_from_stem
from pipeline.progress import track
from pipeline.workers import pool_map

IMAGE_EXTS = (".jpg", ".jpeg", ".png")
FORMAT_EXTS = {"JPEG": (".jpg", ".jpeg"), "PNG": (".png",), "MPO": (".jpg", ".jpeg")}
TRAIN_COLUMNS = ("id", "gender", "race", "age", "path")
MANIFEST_COLUMNS = (
    "image_id", "person_id", "path", "split", "mask", "gender", "age", "race",
    "ext", "file_size", "width", "height", "sha1",
)  # fmt: skip
INT_COLUMNS = ("mask", "gender", "age", "file_size", "width", "height")
REPORT_COLUMNS = ("path", "reason", "action")
EXIF_ORIENTATION = 0x0112

LAYOUT_HELP = (
    "Expected layout under the data root (params.yaml data.root):\n"
    "  train/train.csv                 columns id,gender,race,age,path (path = person folder)\n"
    "  train/images/<path>/            mask1..mask5, incorrect_mask, normal (.jpg|.jpeg|.png)\n"
    "  eval/info.csv + eval/images/    optional: columns ImageID,ans and the listed files"
)


class IngestError(Exception):
    """Nothing usable was found; the message says what was expected where."""


@dataclass(frozen=True)
class IngestResult:
    manifest: pd.DataFrame  # MANIFEST_COLUMNS, one row per usable image
    report: pd.DataFrame  # REPORT_COLUMNS, one row per skipped or odd file


@dataclass(frozen=True)
class Probe:
    """What reading one file found; `error` is set when the file is unusable."""

    file_size: int
    sha1: str
    width: int = 0
    height: int = 0
    mode: str = ""
    format: str = ""
    orientation: int = 1
    error: str = ""


@dataclass(frozen=True)
class PersonRow:
    """One usable train.csv row."""

    line: int
    id: str
    gender: int
    race: str
    age: int
    path: str
    person_id: str = ""


@dataclass
class Report:
    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def skip(self, path: str | Path, reason: str) -> None:
        self.rows.append((_posix(path), reason, "skipped"))

    def keep(self, path: str | Path, reason: str) -> None:
        self.rows.append((_posix(path), reason, "kept"))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(REPORT_COLUMNS)).astype(str)


def _posix(path: str | Path) -> str:
    return path.as_posix() if isinstance(path, Path) else path


def _nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def probe_image(path: str) -> Probe:
    """Size, sha1 and a full decode (pipeline.data.imageio.read_rgb) of one file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        return Probe(0, "", error=f"cannot read file: {e}")
    sha1 = hashlib.sha1(data).hexdigest()
    # Broad on purpose: one file with odd EXIF or a decoder bug must not end a 31k-image run.
    try:
        rgb = read_rgb(p)
        with Image.open(p) as im:  # header only: the original mode/format for the report
            mode, fmt = im.mode, im.format or ""
            orientation = im.getexif().get(EXIF_ORIENTATION, 1)
    except Exception as e:  # noqa: BLE001
        reason = str(e) if isinstance(e, ImageReadError) else f"{type(e).__name__}: {e}"
        return Probe(len(data), sha1, error=reason)
    if not isinstance(orientation, int):
        orientation = 1
    return Probe(len(data), sha1, int(rgb.shape[1]), int(rgb.shape[0]), mode, fmt, orientation)


def probe_all(paths: Sequence[str], *, workers: int = 0, progress: bool = True) -> list[Probe]:
    """probe_image over `paths`, results in the same order; a process pool unless workers == 1
    (0 = all cores)."""
    with track("ingest: decoding images", len(paths), enabled=progress) as advance:
        return pool_map(probe_image, list(paths), workers=workers, advance=advance)


def parse_folder_name(name: str) -> tuple[str, str, str, int] | None:
    """`000001_female_Asian_45` -> ("000001", "female", "Asian", 45); None if it does not parse.
    The race part may itself contain underscores."""
    parts = name.split("_")
    if len(parts) < 4:
        return None
    try:
        age = int(parts[-1])
    except ValueError:
        return None
    return parts[0], parts[1], "_".join(parts[2:-1]), age


def assign_person_ids(ids: Sequence[str]) -> list[str]:
    """Repeated ids become distinct persons: ["3", "3", "3"] -> ["3", "3-1", "3-2"]."""
    seen: Counter[str] = Counter()
    out = []
    for i in ids:
        out.append(i if seen[i] == 0 else f"{i}-{seen[i]}")
        seen[i] += 1
    return out


def folder_disagreement(row: PersonRow, folder: str) -> str:
    """Which label fields the folder name contradicts ("" when it agrees)."""
    parsed = parse_folder_name(_nfc(folder))
    if parsed is None:
        return "does not parse as <id>_<gender>_<race>_<age>"
    fid, fgender, frace, fage = parsed
    diffs = []
    if fid != row.id:
        diffs.append(f"id {fid} vs {row.id}")
    try:
        if gender_code(fgender) != row.gender:
            diffs.append(f"gender {fgender} vs {GENDERS[row.gender]}")
    except ValueError:
        diffs.append(f"gender {fgender} vs {GENDERS[row.gender]}")
    if frace != row.race:
        diffs.append(f"race {frace} vs {row.race}")
    if fage != row.age:
        diffs.append(f"age {fage} vs {row.age}")
    return ", ".join(diffs)


def match_folders(rows: Sequence[PersonRow], on_disk: Sequence[str]) -> dict[int, tuple[str, str]]:
    """train.csv row line -> (folder on disk, how): "exact" name, same name after "unicode" NFC
    normalisation, or "renamed": the only unclaimed folder starting with the row's id."""
    free = set(on_disk)
    found: dict[int, tuple[str, str]] = {}
    for row in rows:
        if row.path in free:
            found[row.line] = (row.path, "exact")
            free.discard(row.path)
    by_nfc = {_nfc(name): name for name in sorted(free)}
    for row in rows:
        name = by_nfc.get(_nfc(row.path))
        if row.line not in found and name in free:
            found[row.line] = (name, "unicode")
            free.discard(name)
    for row in rows:
        if row.line in found:
            continue
        same_id = [n for n in sorted(free) if n.split("_")[0] == row.id]
        if len(same_id) == 1:
            found[row.line] = (same_id[0], "renamed")
            free.discard(same_id[0])
    return found


def read_train_table(csv_path: Path, report: Report) -> list[PersonRow]:
    """Usable train.csv rows with person ids; bad, repeated and conflicting rows are reported."""
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        report.skip(csv_path, f"unreadable train.csv: {e}")
        return []
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in TRAIN_COLUMNS if c not in table.columns]
    if missing:
        report.skip(csv_path, f"train.csv lacks columns: {missing} (has {list(table.columns)})")
        return []
    rows: list[PersonRow] = []
    seen: set[tuple[str, ...]] = set()
    first_line_of_path: dict[str, int] = {}
    for i, rec in enumerate(table[list(TRAIN_COLUMNS)].itertuples(index=False), start=2):
        values = tuple(str(v).strip() for v in rec)
        pid, gender, race, age, path = values
        path = path.strip("/")
        where = f"{csv_path.as_posix()}:{i}"
        if values in seen:
            report.skip(where, "duplicate row in train.csv: collapsed")
            continue
        seen.add(values)
        try:
            g = gender_code(gender)
        except ValueError:
            report.skip(where, f"unknown gender in train.csv: {gender!r}")
            continue
        try:
            a = int(age)
        except ValueError:
            a = -1
        if not 0 <= a <= 150:
            report.skip(where, f"bad age in train.csv: {age!r}")
            continue
        if not pid or not path:
            report.skip(where, "empty id or path in train.csv")
            continue
        if path in first_line_of_path:
            report.skip(
                where,
                f"conflicting train.csv row: folder {path} already labelled at line "
                f"{first_line_of_path[path]}",
            )
            continue
        first_line_of_path[path] = i
        rows.append(PersonRow(i, pid, g, race, a, path))
    person_ids = assign_person_ids([r.id for r in rows])
    out = []
    for row, person_id in zip(rows, person_ids):
        if person_id != row.id:
            report.keep(
                f"{csv_path.as_posix()}:{row.line}",
                f"duplicate id: {row.id} kept as person {person_id}",
            )
        out.append(PersonRow(row.line, row.id, row.gender, row.race, row.age, row.path, person_id))
    return out


def _odd_name(entry: Path) -> str:
    """Why a directory entry that is not a wanted image is skipped."""
    if entry.name.startswith("._"):
        return "macOS resource fork (._ file)"
    if entry.name.startswith("."):
        return "hidden file"
    if entry.is_dir():
        return "unexpected folder"
    return "unknown file name"


def list_person(folder: Path, report: Report) -> dict[str, list[Path]]:
    """Image files of one person folder by canonical stem (sorted); everything else is reported."""
    found: dict[str, list[Path]] = defaultdict(list)
    for entry in sorted(folder.iterdir()):
        stem, ext = entry.stem.lower(), entry.suffix.lower()
        if (
            entry.is_file()
            and not entry.name.startswith(".")
            and stem in MASK_FILES
            and ext in IMAGE_EXTS
        ):
            found[stem].append(entry)
        else:
            report.skip(entry, _odd_name(entry))
    return found


def _report_kept_image(path: Path, probe: Probe, report: Report) -> None:
    if probe.mode != "RGB":
        report.keep(path, f"converted to RGB: from mode {probe.mode}")
    if probe.orientation not in (0, 1):
        report.keep(path, f"EXIF orientation applied: {probe.orientation}")
    if path.suffix.lower() not in FORMAT_EXTS.get(probe.format, ()):
        report.keep(
            path,
            f"extension does not match content: {probe.format or 'unknown'} data in {path.suffix}",
        )


def _eval_candidates(root: Path, report: Report) -> list[tuple[str, Path]]:
    """(ImageID, path) in info.csv order for files that exist; the rest is reported."""
    eval_dir, info, images = root / "eval", root / "eval" / "info.csv", root / "eval" / "images"
    if not eval_dir.is_dir():
        report.skip(eval_dir, "no eval part (eval/ missing): manifest has train rows only")
        return []
    if not info.is_file():
        report.skip(info, "missing eval/info.csv: eval images not read")
        return []
    try:
        table = pd.read_csv(info, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        report.skip(info, f"unreadable info.csv: {e}")
        return []
    if "ImageID" not in table.columns:
        report.skip(info, f"info.csv lacks column ImageID: has {list(table.columns)}")
        return []
    out: list[tuple[str, Path]] = []
    listed: set[str] = set()
    for i, image_id in enumerate(table["ImageID"].str.strip(), start=2):
        where = f"{info.as_posix()}:{i}"
        if not image_id:
            report.skip(where, "empty ImageID in info.csv")
        elif image_id in listed:
            report.skip(where, f"duplicate ImageID in info.csv: {image_id}")
        elif not (images / image_id).is_file():
            listed.add(image_id)
            report.skip(images / image_id, "missing image: listed in info.csv")
        else:
            listed.add(image_id)
            out.append((image_id, images / image_id))
    if images.is_dir():
        for entry in sorted(images.iterdir()):
            if entry.name not in listed:
                reason = _odd_name(entry)
                report.skip(
                    entry, "not listed in info.csv" if reason == "unknown file name" else reason
                )
    return out


Person = tuple[PersonRow, str, dict[str, list[Path]]]  # train.csv row, folder on disk, files


def _manifest_row(image_id: str, path: Path, probe: Probe, **labels) -> dict:
    return {
        "image_id": image_id, "path": path.as_posix(), "ext": path.suffix.lower(),
        "file_size": probe.file_size, "width": probe.width, "height": probe.height,
        "sha1": probe.sha1, **labels,
    }  # fmt: skip


def _manifest_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    dtypes = {c: ("int64" if c in INT_COLUMNS else str) for c in MANIFEST_COLUMNS}
    return frame.astype(dtypes)


def find_persons(csv_path: Path, images_dir: Path, report: Report) -> list[Person]:
    """Labelled persons with their folder and image files; rows without a folder and folders
    without a row are reported."""
    rows: list[PersonRow] = []
    if csv_path.is_file():
        rows = read_train_table(csv_path, report)
    else:
        report.skip(csv_path, "missing train/train.csv: no train labels")
    on_disk: list[str] = []
    if images_dir.is_dir():
        for entry in sorted(images_dir.iterdir()):
            if entry.is_dir() and not entry.name.startswith("."):
                on_disk.append(entry.name)
            else:
                reason = _odd_name(entry)
                report.skip(
                    entry, "not a person folder" if reason == "unknown file name" else reason
                )
    elif rows:
        report.skip(images_dir, "missing train/images folder")

    matched = match_folders(rows, on_disk)
    persons: list[Person] = []
    for row in rows:
        if row.line not in matched:
            report.skip(
                images_dir / row.path, f"missing folder: named in train.csv line {row.line}"
            )
            continue
        folder, how = matched[row.line]
        disagreement = folder_disagreement(row, folder)
        if how == "renamed":
            disagreement = f"path {row.path!r} not found, the folder with the same id is used"
        elif how == "unicode":
            report.keep(
                images_dir / folder,
                f"folder name differs from train.csv only in Unicode normalisation: {row.path!r}",
            )
        if disagreement:
            report.keep(
                images_dir / folder,
                f"folder name disagrees with train.csv: {disagreement} (train.csv labels used)",
            )
        persons.append((row, folder, list_person(images_dir / folder, report)))
    used = {folder for _, folder, _ in persons}
    for name in on_disk:
        if name not in used:
            report.skip(images_dir / name, "folder not used: no valid train.csv row for it")
    return sorted(persons, key=lambda p: (_nfc(p[1]), p[1]))


def train_rows(
    persons: Sequence[Person], images_dir: Path, probes: dict[str, Probe], report: Report
) -> list[dict]:
    """Manifest rows, person by person in stem order: per stem the first decodable file."""
    out: list[dict] = []
    for row, folder, files in persons:
        kept_exts = set()
        for stem in STEMS:
            if not files.get(stem):
                report.skip(images_dir / folder / f"{stem}.*", "missing image")
                continue
            chosen: Path | None = None
            for path in files[stem]:
                probe = probes[path.as_posix()]
                if probe.error:
                    report.skip(path, f"unreadable image: {probe.error}")
                elif chosen is not None:
                    report.skip(path, f"duplicate image: {stem} already read from {chosen.name}")
                else:
                    chosen = path
            if chosen is None:
                continue
            probe = probes[chosen.as_posix()]
            _report_kept_image(chosen, probe, report)
            kept_exts.add(chosen.suffix.lower())
            out.append(_manifest_row(
                f"{_nfc(folder)}/{stem}", chosen, probe, person_id=row.person_id, split="train",
                mask=mask_from_stem(stem), gender=row.gender, age=row.age, race=row.race,
            ))  # fmt: skip
        if len(kept_exts) > 1:
            exts = ", ".join(sorted(kept_exts))
            report.keep(images_dir / folder, f"mixed extensions in one person folder: {exts}")
    return out


def eval_rows(
    files: Sequence[tuple[str, Path]], probes: dict[str, Probe], report: Report
) -> list[dict]:
    """Manifest rows for the decodable eval images, in info.csv order; labels are -1."""
    out: list[dict] = []
    for image_id, path in files:
        probe = probes[path.as_posix()]
        if probe.error:
            report.skip(path, f"unreadable image: {probe.error}")
            continue
        _report_kept_image(path, probe, report)
        out.append(_manifest_row(
            image_id, path, probe, person_id="", split="eval", mask=-1, gender=-1, age=-1, race="",
        ))  # fmt: skip
    return out


def ingest(root: Path, *, workers: int = 0, progress: bool = True) -> IngestResult:
    """Read the competition layout under `root` into a manifest and a report.

    Raises IngestError when no usable training image is left (the message lists what was
    expected and the first problems found). A missing eval part is only reported."""
    root = Path(root)
    if not root.is_dir():
        raise IngestError(f"data root {root} does not exist or is not a folder.\n{LAYOUT_HELP}")
    report = Report()
    images_dir = root / "train" / "images"
    persons = find_persons(root / "train" / "train.csv", images_dir, report)
    eval_files = _eval_candidates(root, report)

    paths = [p.as_posix() for _, _, files in persons for stem in STEMS for p in files.get(stem, [])]
    paths += [p.as_posix() for _, p in eval_files]
    probes = dict(zip(paths, probe_all(paths, workers=workers, progress=progress), strict=True))

    train = train_rows(persons, images_dir, probes, report)
    if not train:
        problems = "\n".join(f"  {p}: {r}" for p, r, _ in report.rows[:10])
        raise IngestError(
            f"no usable training images under {root}.\n{LAYOUT_HELP}\n"
            f"First problems found:\n{problems or '  none: the folders are empty'}"
        )
    manifest = _manifest_frame(train + eval_rows(eval_files, probes, report))

    first_with: dict[str, str] = {}
    for path, sha1 in zip(manifest["path"], manifest["sha1"], strict=True):
        if sha1 in first_with:
            report.keep(path, f"identical file: same bytes as {first_with[sha1]}")
        else:
            first_with[sha1] = path
    return IngestResult(manifest=manifest, report=report.frame())


def reason_kind(reason: str) -> str:
    """The category of a report reason: the text before the first colon."""
    return reason.split(":", 1)[0]


def summary_table(result: IngestResult) -> Table:
    """Counts per split and per report reason, for the console."""
    table = Table(title="ingest")
    table.add_column("what")
    table.add_column("action")
    table.add_column("count", justify="right")
    for split, n in result.manifest["split"].value_counts(sort=False).items():
        table.add_row(f"{split} images", "kept", str(n))
    kinds = Counter(zip(result.report["reason"].map(reason_kind), result.report["action"]))
    for (kind, action), n in sorted(kinds.items()):
        table.add_row(kind, action, str(n))
    return table
