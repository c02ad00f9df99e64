"""The corrections file: human decisions on label issues, applied after the OOF stage by rebalance.

`data/corrections.csv` columns person_id,image_id,field,value,decision,source; image_id "*" for a
person-level row; decision accept|reject; value: gender male|female, age an int or an age-bin name
("<30", "30-59", ">=60"), mask wear|incorrect|normal, or `swap_incorrect_normal` (person level);
duplicate the other person id or `exclude`; outlier / quality `exclude`. An audit decision is a
person-level row of field `audit` whose value is the number of the person's fields found wrong
(`0` with decision reject: all labels right; the corrections themselves are rows of their own
fields, so every reader that applies labels skips `audit` rows).

Every read checks every line: a malformed one raises `CorrectionsError` naming `file:line`, so
nothing is written over a broken file (a short line once came back as `000124,*,age,,,`).

This module is the one writer of the file (`inspect-noise --accept/--reject` and the review server
both call it): every change is a read-modify-write under an exclusive lock, written to a temporary
file and renamed over the old one, so two writers lose nothing and a reader never sees a half line."""

from __future__ import annotations

import csv
import fcntl
import io
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from pipeline import labels as L
from pipeline.labels import AUDIT, EXCLUDE, FIELDS, PERSON, STEMS, TYPE_FIELDS, codes, stem_of
from pipeline.files import write_csv

CORRECTION_COLUMNS = ["person_id", "image_id", "field", "value", "decision", "source"]
KEY = ["person_id", "image_id", "field"]
SWAP = "swap_incorrect_normal"
Decision = Literal["accept", "reject"]


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=str) for c in CORRECTION_COLUMNS})


class CorrectionsError(ValueError):
    """A corrections file that cannot be used as it is: the message names `file:line` of each problem."""


def check_row(row: dict[str, str]) -> str | None:
    """What is wrong with one corrections row (stripped strings), or None."""
    if not row["person_id"]:
        return "person_id is empty"
    if row["field"] not in (*FIELDS, *TYPE_FIELDS, AUDIT):
        return f"field {row['field']!r}: should be one of {', '.join((*FIELDS, *TYPE_FIELDS, AUDIT))}"
    decision = row["decision"].lower()
    if decision not in ("accept", "reject"):
        return f"decision {row['decision']!r}: should be accept or reject"
    if row["field"] == AUDIT:
        if row["image_id"] not in ("", PERSON):
            return f"an audit row is person level: image_id should be {PERSON!r}, got {row['image_id']!r}"
        if not row["value"].isdigit() or (row["value"] == "0") != (decision == "reject"):
            return (f"audit value {row['value']!r}: should be the number of fields found wrong, 0 with "
                    "decision reject (all labels right), 1-3 with accept")
        return None
    try:
        check_value(row["field"], row["value"], swap=row["field"] == "mask" and row["value"] == SWAP)
    except ValueError as e:
        return f"value {row['value']!r}: {e}"
    return None


def check_file(path: str | Path) -> list[str]:
    """`file:line: what is wrong` for every bad line of a corrections file ([] when it is fine or
    missing)."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return [f"{path}: cannot be read ({e})"]
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in CORRECTION_COLUMNS if c not in header]
    if missing:
        return [f"{path}:1: header {','.join(header) or '(empty)'} lacks {','.join(missing)}; "
                f"should be {','.join(CORRECTION_COLUMNS)}"]
    out = []
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # a blank line
        if len(cells) != len(header):
            out.append(f"{path}:{line}: {len(cells)} fields, should be {len(header)} ({','.join(header)}): "
                       f"{','.join(cells)!r}")
            continue
        row = {h: c.strip() for h, c in zip(header, cells)}
        problem = check_row(row)
        if problem:
            out.append(f"{path}:{line}: {problem}")
    return out


def read_corrections(path: str | Path) -> pd.DataFrame:
    """The corrections file as strings, one row per (person_id, image_id, field), the latest
    kept; a missing file is an empty frame with the columns. Raises CorrectionsError (with
    `file:line` of each bad line) rather than read a malformed file."""
    path = Path(path)
    if not path.exists():
        return _empty()
    problems = check_file(path)
    if problems:
        more = f"\n... and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise CorrectionsError("\n".join(problems[:5]) + more)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = df[CORRECTION_COLUMNS].apply(lambda s: s.str.strip())
    df["image_id"] = df["image_id"].replace("", PERSON)
    df["decision"] = df["decision"].str.lower()
    return df.drop_duplicates(KEY, keep="last").reset_index(drop=True)


def read_all(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Several corrections files as one frame, in order (a later file's row wins on apply)."""
    frames = [read_corrections(p) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else _empty()


def plain_label(suggested: str) -> str:
    """The label of an issue's `suggested` text without a trailing note: "30-57 (est. 34.2 y)" -> "30-57"."""
    return re.sub(r"\s*\(.*\)\s*$", "", str(suggested)).strip()


def decision_keys(issues: pd.DataFrame) -> pd.DataFrame:
    """The corrections rows (KEY + value) that decide each issue row, same index: a swap pair is
    one person-level `swap_incorrect_normal` row, a person-level issue keeps image_id "*", and
    the value is the suggested label (an audit item: "0", no field found wrong)."""
    swap = issues["kind"].eq("swap") if "kind" in issues else pd.Series(False, index=issues.index)
    audit = issues["field"].astype(str).eq(AUDIT)
    return pd.DataFrame({
        "person_id": issues["person_id"].astype(str),
        "image_id": issues["image_id"].astype(str).where(~swap, PERSON),
        "field": issues["field"].astype(str),
        # an audit item decided as a whole (--reject): no field of the person found wrong
        "value": issues["suggested"].map(plain_label).where(~swap, SWAP).where(~audit, "0"),
    }, index=issues.index)


def decided(issues: pd.DataFrame, corrections: pd.DataFrame, *, decision: Decision | None = None) -> np.ndarray:
    """Bool per issue row: the corrections file already holds a decision (of kind `decision`,
    any if None) for it."""
    c = corrections if decision is None else corrections[corrections["decision"] == decision]
    done = set(zip(c["person_id"].astype(str), c["image_id"].astype(str), c["field"].astype(str)))
    keys = decision_keys(issues)
    return np.array([k in done for k in zip(keys["person_id"], keys["image_id"], keys["field"])], dtype=bool)


def check_value(field: str, value: str, *, swap: bool = False) -> str:
    """`value` as a valid correction of `field`, stripped; ValueError naming the allowed values."""
    value = str(value).strip()
    if field == "mask" and swap:
        allowed: Sequence[str] = (SWAP,)
    elif field == "mask":
        allowed = L.MASKS
    elif field == "gender":
        allowed = L.GENDERS
    elif field == "age":
        if (value.isdigit() and 0 < int(value) < 120) or _BIN.match(value):
            return value
        raise ValueError(f"age must be years (1-119) or a bin name like '<30', '30-57', '>=58'; got {value!r}")
    elif field == "duplicate":
        if value and value != EXCLUDE:
            return value  # the person id this one is the same person as (merge), or exclude (drop)
        allowed = (EXCLUDE,)
    elif field in TYPE_FIELDS:
        allowed = (EXCLUDE,)
    else:
        raise ValueError(f"field must be one of {FIELDS + TYPE_FIELDS}, got {field!r}")
    if value not in allowed:
        raise ValueError(f"{field} must be one of {list(allowed)}, got {value!r}")
    return value


@contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (a `.name.lock` file beside it) for a read-modify-write."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def update_corrections(path: str | Path, change: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
    """Apply `change` to the file's rows under the lock, write atomically, return the new rows."""
    with locked(path):
        rows = change(read_corrections(path))
        rows = rows[CORRECTION_COLUMNS].drop_duplicates(KEY, keep="last").reset_index(drop=True)
        bad = [f"{r['person_id']},{r['image_id']},{r['field']}: {problem}" for r in rows.to_dict("records")
               if (problem := check_row({k: str(v).strip() for k, v in r.items()}))]
        if bad:  # what is written must read back
            raise CorrectionsError(f"{path}: not written, a new row is malformed: " + "; ".join(bad[:3]))
        write_csv(rows, path)
    return rows


def append_decisions(path: str | Path, issues_rows: pd.DataFrame, decision: Decision, source: str, *,
                     value: str | None = None) -> pd.DataFrame:
    """Record `decision` on the given issue rows in the corrections file and return the file's
    content. `value` replaces the suggested label (an edit: the reviewer chose another label).
    Idempotent: a (person_id, image_id, field) decided again keeps only the latest row."""
    if decision not in ("accept", "reject"):
        raise ValueError(f"decision must be 'accept' or 'reject', got {decision!r}")
    new = decision_keys(issues_rows).assign(decision=decision, source=source)
    if value is not None:
        new["value"] = value
    return update_corrections(path, lambda rows: pd.concat([rows, new[CORRECTION_COLUMNS]], ignore_index=True))


def clear_decisions(path: str | Path, issues_rows: pd.DataFrame) -> pd.DataFrame:
    """Remove the decisions on the given issue rows (undo) and return the file's content."""
    keys = set(map(tuple, decision_keys(issues_rows)[KEY].to_numpy()))

    def drop(rows: pd.DataFrame) -> pd.DataFrame:
        return rows[[k not in keys for k in map(tuple, rows[KEY].to_numpy())]]
    return update_corrections(path, drop)


FIX_KEYS = ("gender", "age", *STEMS)


def parse_fix(text: str) -> tuple[str, str]:
    """`gender=female` -> ("gender", "female"); ValueError saying what KEY=VALUE may be."""
    key, sep, value = str(text).partition("=")
    key, value = key.strip(), value.strip()
    if not sep or key not in FIX_KEYS or not value:
        raise ValueError(f"{text!r}: should be KEY=VALUE with KEY gender (male|female), age (years) or a "
                         f"photo stem ({', '.join(STEMS)}) for its mask (wear|incorrect|normal)")
    return key, value


def fix_rows(person: pd.DataFrame, fixes: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """The corrections rows (KEY + value, decision) that set the labels `fixes` names on one person,
    whose labels rows (image_id, mask, gender, age) are `person`: gender and age at person level, a
    stem's mask on that image. A value equal to the given label is a reject (the label is right).
    ValueError on a bad key or value."""
    if person.empty:
        raise ValueError("no labels for this person: --fix needs the labels file")
    pid = str(person["person_id"].iloc[0])
    first = person.iloc[0]
    stems = {stem_of(i): str(i) for i in person["image_id"]}
    rows = []
    for key, value in fixes:
        if key == "gender":
            value = check_value("gender", value)
            given = first["gender"] if isinstance(first["gender"], str) else L.GENDERS[int(first["gender"])]
            rows.append((pid, PERSON, "gender", value, value == given))
        elif key == "age":
            if not value.isdigit():
                raise ValueError(f"age={value}: should be the age in years (1-119)")
            value = check_value("age", value)
            rows.append((pid, PERSON, "age", value, int(value) == int(first["age"])))
        elif key in STEMS:
            if key not in stems:
                raise ValueError(f"{key}={value}: person {pid} has no {key} photo ({', '.join(sorted(stems))})")
            value = check_value("mask", value)
            given = person.loc[person["image_id"].astype(str) == stems[key], "mask"].iloc[0]
            given = given if isinstance(given, str) else L.MASKS[int(given)]
            rows.append((pid, stems[key], "mask", value, value == given))
        else:
            parse_fix(f"{key}={value}")  # raises with the allowed keys
    out = pd.DataFrame(rows, columns=[*KEY, "value", "same"])
    out["decision"] = np.where(out["same"], "reject", "accept")
    return out.drop(columns="same").drop_duplicates(KEY, keep="last")


def record_fix(path: str | Path, item: pd.DataFrame, person: pd.DataFrame, fixes: Sequence[tuple[str, str]],
               source: str) -> pd.DataFrame:
    """Decide a review item (its issue rows, or its one audit row) with the labels the reviewer
    chose, in one locked write; return the file's rows.

    The labels are rows of their own fields (`fix_rows`). When one of them has the item's own key
    (`--fix gender:X gender=female`), it is the item's decision; otherwise the item is recorded as
    well: an audit item as an `audit` row counting the person's fields now found wrong, any other
    item as a reject of its suggestion (the reviewer chose other labels, e.g. per photo for a swap)."""
    labels_rows = fix_rows(person, fixes).assign(source=source)
    field = str(item["field"].iloc[0])
    pid = str(item["person_id"].iloc[0])

    def change(rows: pd.DataFrame) -> pd.DataFrame:
        new = pd.concat([rows, labels_rows[CORRECTION_COLUMNS]], ignore_index=True).drop_duplicates(KEY, keep="last")
        if field == AUDIT:
            mine = new[(new["person_id"] == pid) & new["field"].isin(FIELDS) & (new["decision"] == "accept")]
            wrong = mine["field"].nunique()
            audit = pd.DataFrame([(pid, PERSON, AUDIT, str(wrong), "accept" if wrong else "reject", source)],
                                 columns=CORRECTION_COLUMNS)
            return pd.concat([new, audit], ignore_index=True)
        keys = decision_keys(item).drop_duplicates(KEY)
        if set(map(tuple, keys[KEY].to_numpy())) <= set(map(tuple, labels_rows[KEY].to_numpy())):
            return new
        return pd.concat([new, keys.assign(decision="reject", source=source)[CORRECTION_COLUMNS]], ignore_index=True)
    return update_corrections(path, change)


_BIN = re.compile(r"^\s*(?:<\s*(\d+)|>=\s*(\d+)|(\d+)\s*-\s*(\d+))\s*$")


def target_ages(value: str, ages: np.ndarray) -> np.ndarray:
    """New ages for a correction `value`: an int sets the age; a bin name ("<30", "30-59", ">=60")
    moves each age the least into that bin, so age and bin stay consistent under any edges."""
    value = str(value).strip()
    if re.fullmatch(r"\d+", value):
        return np.full(len(ages), int(value))
    m = _BIN.match(value)
    if not m:
        raise ValueError(f"age correction must be an int or a bin name like '<30', '30-59', '>=60'; got {value!r}")
    below, above, lo, hi = m.groups()
    if below:
        return np.minimum(ages, int(below) - 1)
    if above:
        return np.maximum(ages, int(above))
    return np.clip(ages, int(lo), int(hi))


def _store(codes_: np.ndarray, like: pd.Series, names: Sequence[str]) -> pd.Series | np.ndarray:
    """Codes back in the column's own representation (codes, or names when it held names)."""
    return codes_ if pd.api.types.is_numeric_dtype(like) else np.asarray(names)[codes_]


def apply_corrections(labels_df: pd.DataFrame, corrections_df: pd.DataFrame, *,
                      age_edges: Sequence[int] = L.DEFAULT_AGE_EDGES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the accepted corrections in file order -> (labels with age_bin and label recomputed
    and a `corrected` column naming the changed fields, e.g. "gender,age"; the corrections rows
    that match no person/image, with a `reason`)."""
    out = labels_df.copy().reset_index(drop=True)
    values = {"mask": codes(out["mask"], L.MASKS).copy(), "gender": codes(out["gender"], L.GENDERS).copy(),
              "age": out["age"].to_numpy(dtype=int).copy()}
    changed = {f: np.zeros(len(out), bool) for f in FIELDS}
    type_changed = {f: np.zeros(len(out), bool) for f in TYPE_FIELDS}
    if "excluded" not in out:
        out["excluded"] = False
    person = out["person_id"].astype(str).to_numpy()
    image = out["image_id"].astype(str).to_numpy()
    unmatched = []
    accepted = corrections_df[corrections_df["decision"].astype(str).str.lower() == "accept"]
    for row in accepted.itertuples(index=False):
        pid, iid, field, value = str(row.person_id), str(row.image_id), str(row.field), str(row.value).strip()
        if field == AUDIT:  # the record that a person was audited; the fixes found are rows of their own
            continue
        sel = person == pid if iid in (PERSON, "") else image == iid
        if not sel.any():
            unmatched.append({**row._asdict(), "reason": "no such person" if iid in (PERSON, "") else "no such image"})
            continue
        if field in TYPE_FIELDS:
            merge = field == "duplicate" and value != EXCLUDE
            if merge:  # the same person filed twice: one person id, so folds keep the two together
                out.loc[sel, "person_id"] = value
            else:
                out.loc[sel, "excluded"] = True
            type_changed[field] |= sel
            continue
        if field not in FIELDS:
            raise ValueError(f"correction field must be one of {FIELDS + TYPE_FIELDS}, got {field!r} (person {pid})")
        old = values[field].copy()
        if field == "age":
            values["age"][sel] = target_ages(value, values["age"][sel])
        elif field == "mask" and value == SWAP:
            m = values["mask"]
            m[sel & (old == 1)], m[sel & (old == 2)] = 2, 1
        else:
            names = L.MASKS if field == "mask" else L.GENDERS
            values[field][sel] = codes([value], names)[0]
        changed[field] |= values[field] != old
    out["mask"] = _store(values["mask"], out["mask"], L.MASKS)
    out["gender"] = _store(values["gender"], out["gender"], L.GENDERS)
    out["age"] = values["age"]
    out["age_bin"] = L.age_bin(values["age"], age_edges)
    out["label"] = L.encode(values["mask"], values["gender"], out["age_bin"].to_numpy())
    changed.update(type_changed)
    out["corrected"] = [",".join(f for f in FIELDS + TYPE_FIELDS if changed[f][i]) for i in range(len(out))]
    unmatched_df = pd.DataFrame(unmatched, columns=[*CORRECTION_COLUMNS, "reason"]) if unmatched \
        else pd.DataFrame(columns=[*CORRECTION_COLUMNS, "reason"])
    return out, unmatched_df


def from_public_list(public: pd.DataFrame) -> pd.DataFrame:
    """A public known-fixes list (person_id,field,fix,source) as accepted corrections rows."""
    return pd.DataFrame({
        "person_id": public["person_id"].astype(str), "image_id": PERSON, "field": public["field"],
        "value": public["fix"].astype(str), "decision": "accept", "source": public["source"],
    })[CORRECTION_COLUMNS]
