"""The review web app behind `curate inspect-noise --serve`: one issue at a time with the person's
photos, keyboard decisions written at once to the corrections file (pipeline.curation.corrections, the one
writer). FastAPI + uvicorn; the page and its script and style are served from static/, nothing
from the network."""

from __future__ import annotations

import io
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image
from pydantic import BaseModel

from pipeline import labels as L
from pipeline.curation.corrections import (EXCLUDE, KEY, PERSON, SWAP, TYPE_FIELDS, append_decisions, check_value,
                                  clear_decisions, decision_keys, read_corrections)
from pipeline.review.rerun import rerun_plan

STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class Sources:
    """The files the app reads (and the one it writes: `corrections`)."""
    issues: Path = Path("reports/noise/issues.csv")
    labels: Path = Path("data/processed/labels.parquet")
    crops: Path = Path("data/interim/crops.npy")
    manifest: Path = Path("data/interim/manifest.parquet")
    corrections: Path = Path("data/corrections.csv")
    age_edges: tuple[int, int] = L.DEFAULT_AGE_EDGES
    source: str = "review"
    root: Path = Path(".")  # where dvc.yaml/dvc.lock say what the next `dvc repro` reruns


class Decision(BaseModel):
    id: str
    decision: Literal["accept", "reject", "clear"]
    value: str | None = None  # accept with another label than the suggested one (edit), or undo


def _read_issues(path: Path) -> pd.DataFrame:
    issues = pd.read_csv(path, dtype={"issue_id": str, "person_id": str, "image_id": str, "given": str, "suggested": str}, keep_default_na=False)
    return issues.astype({"score": float})


def _choices(field: str, swap: bool, age_edges: tuple[int, int], suggested: str = "") -> list[str]:
    if field == "duplicate":  # merge into the other id, or drop the copy
        return [suggested, EXCLUDE] if suggested else [EXCLUDE]
    if field in TYPE_FIELDS:
        return [EXCLUDE]
    if field == "mask":
        return [SWAP] if swap else list(L.MASKS)
    return list(L.GENDERS) if field == "gender" else list(L.age_bin_names(age_edges))


def _name(value: Any, names: tuple[str, ...]) -> str:
    return names[int(value)] if pd.api.types.is_number(value) else str(value)


class Review:
    """Issues grouped into review items (one decision each: a swap pair is one item), the persons'
    images and given labels, and the decisions currently in the corrections file."""

    def __init__(self, src: Sources):
        self.src = src
        issues = _read_issues(src.issues)
        keys = decision_keys(issues)
        issues["key"] = list(zip(keys["person_id"], keys["image_id"], keys["field"]))
        self.issues = issues
        self.by_id = {i: k for i, k in zip(issues["issue_id"], issues["key"])}
        extra = [c for c in issues.columns if c not in ("issue_id", "person_id", "image_id", "field", "given",
                                                        "suggested", "score", "kind", "key")]
        self.items: list[dict[str, Any]] = []
        for key, rows in issues.groupby("key", sort=False):
            first = rows.iloc[0]
            swap = first["kind"] == "swap"
            self.items.append({
                "id": first["issue_id"], "ids": rows["issue_id"].tolist(), "key": list(key),
                "person_id": first["person_id"], "field": first["field"], "kind": first["kind"],
                "given": str(first["given"]), "suggested": str(first["suggested"]),
                "value": keys.loc[rows.index[0], "value"], "score": float(rows["score"].max()),
                "images": [i for i in rows["image_id"] if i != PERSON],
                "extra": {c: str(first[c]) for c in extra if str(first[c]) != ""},
                "choices": _choices(first["field"], swap, src.age_edges, str(first["suggested"])),
                "swap": bool(swap),
            })
        self.items.sort(key=lambda it: -it["score"])
        others = issues.loc[issues["field"] == "duplicate", "suggested"]  # shown beside the copy
        self.persons = self._persons(set(issues["person_id"]) | set(others))
        manifest = pd.read_parquet(src.manifest, columns=["image_id", "path"]) if src.manifest.exists() \
            else pd.DataFrame(columns=["image_id", "path"])
        self.crop_row = {i: n for n, i in enumerate(manifest["image_id"].astype(str))}
        self.original = dict(zip(manifest["image_id"].astype(str), manifest["path"].astype(str)))
        self.crops = np.load(src.crops, mmap_mode="r") if src.crops.exists() else None

    def _persons(self, wanted: set[str]) -> dict[str, dict[str, Any]]:
        if not self.src.labels.exists():
            return {}
        labels = pd.read_parquet(self.src.labels).astype({"person_id": str, "image_id": str})
        labels = labels[labels["person_id"].isin(wanted)]
        order = {stem: i for i, stem in enumerate(L.MASK_FILES)}
        out = {}
        for pid, rows in labels.groupby("person_id"):
            rows = rows.assign(stem=rows["image_id"].str.rsplit("/", n=1).str[-1])
            rows = rows.sort_values("stem", key=lambda s: s.map(lambda x: order.get(x, len(order))), kind="stable")
            first = rows.iloc[0]
            out[pid] = {
                "gender": _name(first["gender"], L.GENDERS), "age": int(first["age"]),
                "age_bin": L.age_bin_names(self.src.age_edges)[L.age_bin(int(first["age"]), self.src.age_edges)],
                "images": [{"id": r["image_id"], "stem": r["stem"], "mask": _name(r["mask"], L.MASKS)}
                           for _, r in rows.iterrows()],
            }
        return out

    def decisions(self, rows: pd.DataFrame | None = None) -> dict[str, dict[str, str]]:
        """Item id -> its decision in the corrections file (or `rows` of it): {decision, value, source}."""
        rows = read_corrections(self.src.corrections) if rows is None else rows
        by_key = {tuple(k): r for k, r in zip(rows[KEY].to_numpy().tolist(), rows.to_dict("records"))}
        return {it["id"]: {k: by_key[tuple(it["key"])][k] for k in ("decision", "value", "source")}
                for it in self.items if tuple(it["key"]) in by_key}

    def state(self) -> dict[str, Any]:
        decisions = self.decisions()
        return {"items": self.items, "persons": self.persons, "decisions": decisions,
                "progress": {"reviewed": len(decisions), "total": len(self.items)},
                "rerun": rerun_plan(str(self.src.corrections), root=self.src.root),
                "corrections": str(self.src.corrections)}

    def item(self, issue_id: str) -> dict[str, Any]:
        key = self.by_id.get(issue_id)
        if key is None:
            raise HTTPException(404, f"unknown issue id {issue_id!r}")
        return next(it for it in self.items if tuple(it["key"]) == key)

    def decide(self, d: Decision) -> dict[str, Any]:
        item = self.item(d.id)
        rows = self.issues[self.issues["issue_id"].isin(item["ids"])]
        value = None
        if d.value is not None:
            if d.decision == "clear":
                raise HTTPException(400, "a 'clear' takes no value")
            try:
                value = check_value(item["field"], d.value, swap=item["swap"])
            except ValueError as e:
                raise HTTPException(400, str(e)) from None
        previous = self.decisions().get(item["id"])
        if d.decision == "clear":
            written = clear_decisions(self.src.corrections, rows)
        else:
            written = append_decisions(self.src.corrections, rows, d.decision, self.src.source, value=value)
        decisions = self.decisions(written)
        return {"id": item["id"], "decision": decisions.get(item["id"]), "previous": previous,
                "progress": {"reviewed": len(decisions), "total": len(self.items)},
                "rerun": rerun_plan(str(self.src.corrections), root=self.src.root)}

    def image(self, image_id: str, kind: str) -> Response:
        if kind == "crop" and self.crops is not None and image_id in self.crop_row:
            return Response(_png(self.crops, self.crop_row[image_id]), media_type="image/png",
                            headers={"Cache-Control": "max-age=3600"})
        if kind == "original" and image_id in self.original and Path(self.original[image_id]).is_file():
            path = self.original[image_id]
            return FileResponse(path, media_type=mimetypes.guess_type(path)[0] or "application/octet-stream")
        raise HTTPException(404, f"no {kind} image for {image_id!r}")


def _png(crops: np.ndarray, row: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(crops[row], dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def create_app(src: Sources) -> FastAPI:
    """The app over `src`; issues, labels and crops are read once, decisions on every request."""
    review = Review(src)
    app = FastAPI(title="curate review", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/api/state")
    def state() -> dict[str, Any]:
        return review.state()

    @app.post("/api/decide")
    def decide(d: Decision) -> dict[str, Any]:
        return review.decide(d)

    @app.get("/api/image")
    def image(id: str, kind: Literal["crop", "original"] = "crop") -> Response:
        return review.image(id, kind)

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def serve(src: Sources, *, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Run the app with uvicorn until Ctrl+C."""
    import uvicorn

    print(f"review {src.issues} at http://{host}:{port}  (decisions -> {src.corrections}; Ctrl+C stops)")
    uvicorn.run(create_app(src), host=host, port=port, log_level="warning")
