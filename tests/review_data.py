"""A small review set made in a temp dir: what the noise stage and its inputs leave for
`curate inspect-noise --serve` (issues.csv, labels, manifest with original photos, crop cache)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from pipeline import labels as L
from pipeline.review.app import Sources

EDGES = (30, 58)


def _face(rng: np.random.Generator, size: tuple[int, int], mask: int) -> Image.Image:
    """A plain drawn portrait: background, skin ellipse, eyes, and a mask over the mouth for wear."""
    w, h = size
    img = Image.new("RGB", size, tuple(int(v) for v in rng.integers(90, 200, 3)))
    d = ImageDraw.Draw(img)
    skin = tuple(int(v) for v in rng.integers([170, 120, 90], [240, 190, 150]))
    d.ellipse([w * .25, h * .18, w * .75, h * .78], fill=skin)
    for x in (.4, .6):
        d.ellipse([w * (x - .04), h * .38, w * (x + .04), h * .44], fill=(40, 30, 30))
    if mask == 0:
        d.rectangle([w * .3, h * .52, w * .7, h * .72], fill=(90, 140, 220))
    elif mask == 1:
        d.rectangle([w * .3, h * .64, w * .7, h * .76], fill=(90, 140, 220))
    else:
        d.line([w * .42, h * .62, w * .58, h * .62], fill=(150, 60, 60), width=2)
    return img


def make_review_set(root: Path, persons: int = 8, issues_wanted: int = 8, seed: int = 0) -> Sources:
    """Write `persons` persons (7 photos each) and issues for the first ones: gender and age flags
    per person, a mask swap pair per fourth person; return the Sources pointing at them."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows, crops = [], []
    for p in range(persons):
        pid, gender, age = f"{p + 1:06d}", int(rng.integers(2)), int(rng.integers(20, 70))
        folder = root / "images" / f"{pid}_{L.GENDERS[gender]}_Asian_{age}"
        folder.mkdir(parents=True, exist_ok=True)
        for stem, mask in L.MASK_FILES.items():
            img = _face(rng, (96, 128), mask)
            img.save(folder / f"{stem}.png")
            crops.append(np.asarray(img.crop((8, 16, 88, 96)).resize((64, 64))))
            rows.append({"image_id": f"{folder.name}/{stem}", "person_id": pid, "path": str(folder / f"{stem}.png"),
                         "split": "train", "mask": mask, "gender": gender, "age": age})
    labels = pd.DataFrame(rows)
    labels["age_bin"] = L.age_bin(labels["age"].to_numpy(), EDGES)
    labels["label"] = L.encode(labels["mask"], labels["gender"], labels["age_bin"])
    names = L.age_bin_names(EDGES)
    issues = []
    by_person = labels.groupby("person_id", sort=True).first()
    for i, (pid, r) in enumerate(by_person.iterrows()):
        if len(issues) >= issues_wanted:
            break
        issues.append((f"gender:{pid}", pid, "*", "gender", L.GENDERS[r.gender], L.GENDERS[1 - r.gender],
                       round(0.99 - 0.01 * i, 3), "gender"))
        given = names[r.age_bin]
        issues.append((f"age:{pid}", pid, "*", "age", given, names[(r.age_bin + 1) % 3],
                       round(0.9 - 0.01 * i, 3), "age"))
        if i % 4 == 0:
            inc, nor = f"{r.image_id.rsplit('/', 1)[0]}/incorrect_mask", f"{r.image_id.rsplit('/', 1)[0]}/normal"
            score = round(0.95 - 0.01 * i, 3)
            issues += [(f"mask:{inc}", pid, inc, "mask", "incorrect", "normal", score, "swap"),
                       (f"mask:{nor}", pid, nor, "mask", "normal", "incorrect", score, "swap")]
    issues_df = pd.DataFrame(issues, columns=["issue_id", "person_id", "image_id", "field", "given", "suggested",
                                              "score", "kind"]).sort_values("score", ascending=False, kind="stable")
    src = Sources(issues=root / "issues.csv", labels=root / "labels.parquet", crops=root / "crops.npy",
                  manifest=root / "manifest.parquet", corrections=root / "data" / "corrections.csv",
                  age_edges=EDGES, source="test", root=root)
    issues_df.to_csv(src.issues, index=False)
    labels.to_parquet(src.labels)
    labels[["image_id", "person_id", "path", "split"]].to_parquet(src.manifest)
    np.save(src.crops, np.stack(crops).astype(np.uint8))
    return src
