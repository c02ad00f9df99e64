"""A self-contained HTML gallery of flagged persons: their crops side by side, the flagged images
outlined, the issues with given -> suggested, score and issue id. Images are inlined as PNG."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pipeline.corrections import PERSON
from pipeline.labels import MASK_FILES

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
.id { font-family: ui-monospace, Menlo, monospace; color: #5b6475; }
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


def _stem(image_id: str) -> str:
    return image_id.rsplit("/", 1)[-1]


def _person_html(person: str, issues: pd.DataFrame, images: list[str], crops: np.ndarray,
                 crop_index: Mapping[str, int]) -> str:
    e = html.escape
    flagged = set(issues.loc[issues["image_id"] != PERSON, "image_id"])
    rows = "".join(
        f"<tr><td>{e(r.field)}</td><td>{e(r.kind)}</td><td>{e('person' if r.image_id == PERSON else _stem(r.image_id))}"
        f"</td><td><span class='given'>{e(str(r.given))}</span> &rarr; <span class='suggested'>{e(str(r.suggested))}"
        f"</span></td><td>{r.score:.3f}</td><td class='id'>{e(r.issue_id)}</td></tr>"
        for r in issues.itertuples())
    figures = []
    for image_id in sorted(images, key=lambda i: (STEM_ORDER.get(_stem(i), len(STEM_ORDER)), i)):
        cls = " class='flagged'" if image_id in flagged else ""
        src = png_data_uri(crops[crop_index[image_id]]) if image_id in crop_index else ""
        img = f"<img src='{src}' alt='{e(image_id)}'>" if src else "<img alt='no crop'>"
        figures.append(f"<figure{cls}>{img}<figcaption>{e(_stem(image_id))}</figcaption></figure>")
    return (f"<section class='person'><h2>person {e(person)} &middot; max score {issues['score'].max():.3f}</h2>"
            "<table class='issues'><tr><th>field</th><th>kind</th><th>image</th><th>given &rarr; suggested</th>"
            f"<th>score</th><th>issue id</th></tr>{rows}</table><div class='crops'>{''.join(figures)}</div></section>")


def write_gallery(issues: pd.DataFrame, labels: pd.DataFrame, crops: np.ndarray,
                  crop_index: Mapping[str, int], path: str | Path, *, title: str = "curate: label issues") -> Path:
    """Write the gallery for every person named in `issues` (in order of their best score) and
    return its path. `crops` is the uint8 crop cache, `crop_index` maps image_id -> crop row."""
    path = Path(path)
    by_person = labels.assign(person_id=labels["person_id"].astype(str)).groupby("person_id")["image_id"]
    images = {p: list(ids.astype(str)) for p, ids in by_person}
    issues = issues.assign(person_id=issues["person_id"].astype(str))
    order = issues.groupby("person_id", sort=False)["score"].max().sort_values(ascending=False, kind="stable")
    sections = [_person_html(p, issues[issues["person_id"] == p], images.get(p, []), crops, crop_index)
                for p in order.index]
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<div class='meta'>{len(issues)} issue rows, {len(order)} persons; flagged images outlined in red."
            f"</div>{''.join(sections)}</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
