"""The corrections file: human decisions on label issues, applied after the OOF stage by rebalance.

`data/corrections.csv` columns person_id,image_id,field,value,decision,source; image_id "*" for a
person-level row; decision accept|reject; value: gender male|female, age an int or an age-bin name
("<30", "30-59", ">=60"), mask wear|incorrect|normal, or `swap_incorrect_normal` (person level).

This module is the one writer of the file (`inspect-noise --accept/--reject` and the review server
both call it): every change is a read-modify-write under an exclusive lock, written to a temporary
file and renamed over the old one, so two writers lose nothing and a reader never sees a half line."""

from __future__ import annotations

import fcntl
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from pipeline import labels as L
from pipeline.labels import EXCLUDE, FIELDS, PERSON, TYPE_FIELDS, codes
from pipeline.files import write_csv

CORRECTION_COLUMNS = ["person_id", "image_id", "field", "value", "decision", "source"]
KEY = ["person_id", "image_id", "field"]
SWAP = "swap_incorrect_normal"
Decision = Literal["accept", "reject"]


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=str) for c in CORRECTION_COLUMNS})


def read_corrections(path: str | Path) -> pd.DataFrame:
    """The corrections file as strings, one row per (person_id, image_id, field), the latest
    kept; a missing file is an empty frame with the columns."""
    path = Path(path)
    if not path.exists():
        return _empty()
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = set(CORRECTION_COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}; expected {CORRECTION_COLUMNS}")
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
    the value is the suggested label."""
    swap = issues["kind"].eq("swap") if "kind" in issues else pd.Series(False, index=issues.index)
    return pd.DataFrame({
        "person_id": issues["person_id"].astype(str),
        "image_id": issues["image_id"].astype(str).where(~swap, PERSON),
        "field": issues["field"].astype(str),
        "value": issues["suggested"].map(plain_label).where(~swap, SWAP),
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
