"""A self-contained HTML gallery of flagged persons: their crops side by side, the flagged images
outlined, the issues with given -> suggested, score, issue id and the command that decides each.
Images are inlined as PNG."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pipeline.curation.corrections import PERSON
from pipeline.review.queue import items
from pipeline.labels import GENDERS, MASK_FILES

STEM_ORDER = {stem: i for i, stem in enumerate(MASK_FILES)}

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1d2330;
       background: #f5f6f8; }
h1 { font-size: 20px; margin: 0 0 4px; }
.meta { color: #5b6475; margin-bottom: 20px; }
.person { background: #fff; border: 1px solid #d9dde5; border-radius: 8px; padding: 12px 16px;
          margin-bottom: 16px; }
.person h2 { font-size: 16px; margin: 0 0 8px; }
.issues { border-collapse: collapse; margin-bottom: 10px; font-size: 13px; }
.issues td, .issues th { padding: 3px 10px 3px 0; text-align: left; }
.issues th { color: #5b6475; font-weight: 600; }
.given { color: #b3261e; } .suggested { color: #1e7b34; font-weight: 600; }
.id, code { font-family: ui-monospace, Menlo, monospace; color: #5b6475; white-space: nowrap; }
code { font-size: 12px; background: #f0f2f5; padding: 1px 4px; border-radius: 3px; }
.crops { display: flex; gap: 8px; flex-wrap: wrap; }
figure { margin: 0; text-align: center; font-size: 12px; color: #39414f; }
figure img { display: block; width: 120px; height: 120px; object-fit: contain; background: #ddd;
             border: 3px solid transparent; border-radius: 4px; image-rendering: pixelated; }
figure.flagged img { border-color: #d93025; }
figure.flagged figcaption { color: #d93025; font-weight: 600; }
"""


def png_data_uri(image: np.ndarray) -> str:
    """uint8 HxWx3 array -> `data:image/png;base64,...`."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _gender(value) -> str:
    return GENDERS[int(value)] if str(value).isdigit() else str(value)


def _stem(image_id: str) -> str:
    return image_id.rsplit("/", 1)[-1]


def _decide(issue_id: str) -> str:
    e = html.escape
    return (f"<code>curate inspect-noise --accept {e(issue_id)}</code><br>"
            f"<code>curate inspect-noise --reject {e(issue_id)}</code>")


def _crops_html(images: list[str], flagged: set[str], crops: np.ndarray, crop_index: Mapping[str, int]) -> str:
    e = html.escape
    figures = []
    for image_id in sorted(images, key=lambda i: (STEM_ORDER.get(_stem(i), len(STEM_ORDER)), i)):
        cls = " class='flagged'" if image_id in flagged else ""
        src = png_data_uri(crops[crop_index[image_id]]) if image_id in crop_index else ""
        img = f"<img src='{src}' alt='{e(image_id)}'>" if src else "<img alt='no crop'>"
        figures.append(f"<figure{cls}>{img}<figcaption>{e(_stem(image_id))}</figcaption></figure>")
    return f"<div class='crops'>{''.join(figures)}</div>"


def _person_html(person: str, issues: pd.DataFrame, images: list[str], crops: np.ndarray,
                 crop_index: Mapping[str, int], given: str = "",
                 others: Mapping[str, tuple[list[str], str]] | None = None) -> str:
    """One person's section; `others` (person id -> images, given) are shown under it, each a
    duplicate's other person, to judge the pair side by side."""
    e = html.escape
    flagged = set(issues.loc[issues["image_id"] != PERSON, "image_id"])
    extra = [c for c in issues.columns if c not in ("issue_id", "person_id", "image_id", "field", "given",
                                                    "suggested", "score", "kind")]
    rows = "".join(
        f"<tr><td>{e(r['field'])}</td><td>{e(r['kind'])}</td>"
        f"<td>{e('person' if r['image_id'] == PERSON else _stem(r['image_id']))}</td>"
        f"<td><span class='given'>{e(str(r['given']))}</span> &rarr; <span class='suggested'>"
        f"{e(str(r['suggested']))}</span></td><td>{r['score']:.3f}</td>"
        + "".join(f"<td>{e(str(r[c]))}</td>" for c in extra)
        + f"<td class='id'>{e(r['issue_id'])}</td><td>{_decide(r['issue_id'])}</td></tr>"
        for r in issues.to_dict("records"))
    head = "".join(f"<th>{e(c)}</th>" for c in ["field", "kind", "image", "given \u2192 suggested", "score",
                                                  *extra, "issue id", "decide with"])
    beside = "".join(f"<h3>same person? {e(other)}{e(their_given)}</h3>"
                     + _crops_html(theirs, set(), crops, crop_index)
                     for other, (theirs, their_given) in (others or {}).items())
    return (f"<section class='person'><h2>person {e(person)}{e(given)} &middot; max score "
            f"{issues['score'].max():.3f}</h2><table class='issues'><tr>{head}</tr>{rows}</table>"
            f"{_crops_html(images, flagged, crops, crop_index)}{beside}</section>")


def write_gallery(issues: pd.DataFrame, labels: pd.DataFrame, crops: np.ndarray,
                  crop_index: Mapping[str, int], path: str | Path, *, title: str = "curate: label issues") -> Path:
    """Write the gallery for every person named in `issues` (in order of their best score) and
    return its path. `crops` is the uint8 crop cache, `crop_index` maps image_id -> crop row."""
    path = Path(path)
    by_person = labels.assign(person_id=labels["person_id"].astype(str)).groupby("person_id")["image_id"]
    images = {p: list(ids.astype(str)) for p, ids in by_person}
    issues = issues.assign(person_id=issues["person_id"].astype(str))
    order = issues.groupby("person_id", sort=False)["score"].max().sort_values(ascending=False, kind="stable")
    given: dict[str, str] = {}
    if {"gender", "age"} <= set(labels.columns):
        first = labels.assign(person_id=labels["person_id"].astype(str)).groupby("person_id").first()
        given = {p: f" \u00b7 given {_gender(r.gender)}, {int(r.age)} y" for p, r in first.iterrows()}
    dup = issues[issues["field"] == "duplicate"]
    others = {p: {str(o): (images.get(str(o), []), given.get(str(o), ""))
                  for o in dup.loc[dup["person_id"] == p, "suggested"]} for p in order.index}
    sections = [_person_html(p, issues[issues["person_id"] == p], images.get(p, []), crops, crop_index,
                             given.get(p, ""), others[p]) for p in order.index]
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<div class='meta'>{len(items(issues))} review items of {len(order)} persons; flagged images outlined in red."
            f"</div>{''.join(sections)}</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
