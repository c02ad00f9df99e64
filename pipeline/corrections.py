"""The corrections file: human decisions on label issues, applied by the relabel stage.

`data/corrections.csv` columns person_id,image_id,field,value,decision,source; image_id "*" for a
person-level row; decision accept|reject; value: gender male|female, age an int or an age-bin name
("<30", "30-59", ">=60"), mask wear|incorrect|normal, or `swap_incorrect_normal` (person level)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from pipeline import labels as L
from pipeline.labels import codes
from pipeline.files import write_csv

CORRECTION_COLUMNS = ["person_id", "image_id", "field", "value", "decision", "source"]
KEY = ["person_id", "image_id", "field"]
SWAP = "swap_incorrect_normal"
FIELDS = ("mask", "gender", "age")
Decision = Literal["accept", "reject"]
PERSON = "*"  # image_id of person-level rows


def read_corrections(path: str | Path) -> pd.DataFrame:
    """The corrections file as strings, one row per (person_id, image_id, field), the latest
    kept; a missing file is an empty frame with the columns."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame({c: pd.Series(dtype=str) for c in CORRECTION_COLUMNS})
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = set(CORRECTION_COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}; expected {CORRECTION_COLUMNS}")
    df = df[CORRECTION_COLUMNS].apply(lambda s: s.str.strip())
    df["image_id"] = df["image_id"].replace("", PERSON)
    df["decision"] = df["decision"].str.lower()
    return df.drop_duplicates(KEY, keep="last").reset_index(drop=True)


def decision_keys(issues: pd.DataFrame) -> pd.DataFrame:
    """The corrections rows (KEY + value) that decide each issue row, same index: a swap pair is
    one person-level `swap_incorrect_normal` row, a person-level issue keeps image_id "*", and
    the value is the suggested label."""
    swap = issues["kind"].eq("swap") if "kind" in issues else pd.Series(False, index=issues.index)
    return pd.DataFrame({
        "person_id": issues["person_id"].astype(str),
        "image_id": issues["image_id"].astype(str).where(~swap, PERSON),
        "field": issues["field"].astype(str),
        "value": issues["suggested"].astype(str).where(~swap, SWAP),
    }, index=issues.index)


def decided(issues: pd.DataFrame, corrections: pd.DataFrame, *, decision: Decision | None = None) -> np.ndarray:
    """Bool per issue row: the corrections file already holds a decision (of kind `decision`,
    any if None) for it."""
    c = corrections if decision is None else corrections[corrections["decision"] == decision]
    done = set(zip(c["person_id"].astype(str), c["image_id"].astype(str), c["field"].astype(str)))
    keys = decision_keys(issues)
    return np.array([k in done for k in zip(keys["person_id"], keys["image_id"], keys["field"])], dtype=bool)


def append_decisions(path: str | Path, issues_rows: pd.DataFrame, decision: Decision, source: str) -> pd.DataFrame:
    """Record `decision` on the given issue rows in the corrections file and return the file's
    content. Idempotent: a (person_id, image_id, field) decided again keeps only the latest row."""
    if decision not in ("accept", "reject"):
        raise ValueError(f"decision must be 'accept' or 'reject', got {decision!r}")
    new = decision_keys(issues_rows).assign(decision=decision, source=source)[CORRECTION_COLUMNS]
    combined = pd.concat([read_corrections(path), new], ignore_index=True)
    combined = combined.drop_duplicates(KEY, keep="last").reset_index(drop=True)
    write_csv(combined, path)
    return combined


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
        if field not in FIELDS:
            raise ValueError(f"correction field must be one of {FIELDS}, got {field!r} (person {pid})")
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
    out["corrected"] = [",".join(f for f in FIELDS if changed[f][i]) for i in range(len(out))]
    unmatched_df = pd.DataFrame(unmatched, columns=[*CORRECTION_COLUMNS, "reason"]) if unmatched \
        else pd.DataFrame(columns=[*CORRECTION_COLUMNS, "reason"])
    return out, unmatched_df


def from_public_list(public: pd.DataFrame) -> pd.DataFrame:
    """A public known-fixes list (person_id,field,fix,source) as accepted corrections rows."""
    return pd.DataFrame({
        "person_id": public["person_id"].astype(str), "image_id": PERSON, "field": public["field"],
        "value": public["fix"].astype(str), "decision": "accept", "source": public["source"],
    })[CORRECTION_COLUMNS]
