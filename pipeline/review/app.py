"""The review web app behind `curate inspect-noise --serve`: one item at a time with the person's
photos, keyboard decisions written at once to the corrections file (pipeline.curation.corrections, the one
writer); the queue (label fixes first, audits, photo issues) re-ranked and the statistics refitted
after every decision. FastAPI + uvicorn; the page and its script and style are served from static/, nothing
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
from pydantic import BaseModel, Field

from pipeline import labels as L
from pipeline.curation.corrections import (EXCLUDE, FIELDS, KEY, PERSON, SWAP, TYPE_FIELDS, CorrectionsError,
                                           append_decisions, check_value, clear_decisions, decision_keys, parse_fix,
                                           read_corrections, record_fix, update_corrections)
from pipeline.labels import AUDIT, stem_of
from pipeline.review.queue import DEFAULT_THRESHOLD, group_of, unknown_ids_message
from pipeline.review.rerun import rerun_plan
from pipeline.review.session import build

GROUP_NAMES = ("labels", "audit", "photos")

STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class Sources:
    """The files the app reads (and the one it writes: `corrections`), and how the queue is built."""
    issues: Path = Path("reports/noise/issues.csv")
    labels: Path = Path("data/processed/labels.parquet")
    crops: Path = Path("data/interim/crops.npy")
    manifest: Path = Path("data/interim/manifest.parquet")
    corrections: Path = Path("data/corrections.csv")
    age_edges: tuple[int, int] = L.DEFAULT_AGE_EDGES
    source: str = "review"
    root: Path = Path(".")  # where dvc.yaml/dvc.lock say what the next `dvc repro` reruns
    threshold: float = DEFAULT_THRESHOLD  # noise.types.threshold: detector rows below it are notes
    audit: int = 0  # audit items at the start (the page can add more)
    audit_seed: int = 0
    fields: tuple[str, ...] = ()  # only items of these fields (all when empty)


class Decision(BaseModel):
    id: str
    decision: Literal["accept", "reject", "clear", "fix"]
    value: str | None = None  # accept: another label than the suggested one (edit); fix: KEY=VALUE[ KEY=VALUE]


class AuditRequest(BaseModel):
    n: int = Field(ge=0, le=10_000)


def _read_issues(path: Path) -> pd.DataFrame:
    issues = pd.read_csv(path, dtype={"issue_id": str, "person_id": str, "image_id": str, "given": str, "suggested": str}, keep_default_na=False)
    return issues.astype({"score": float})


def _choices(field: str, swap: bool, age_edges: tuple[int, int], suggested: str = "") -> list[str]:
    if field == AUDIT:  # decided with r (all right) or a fix (KEY=VALUE)
        return []
    if field == "duplicate":  # merge into the other id, or drop the copy
        return [suggested, EXCLUDE] if suggested else [EXCLUDE]
    if field in TYPE_FIELDS:
        return [EXCLUDE]
    if field == "mask":
        return [SWAP] if swap else list(L.MASKS)
    return list(L.GENDERS) if field == "gender" else list(L.age_bin_names(age_edges))


def _name(value: Any, names: tuple[str, ...]) -> str:
    return names[int(value)] if pd.api.types.is_number(value) else str(value)


def _number(value: Any) -> float | None:
    return None if value is None or value != value else float(value)


class Review:
    """The review queue (pipeline.review.session: items in queue order, audit items, statistics),
    the persons' images and given labels, and the decisions currently in the corrections file. The
    queue is rebuilt after every decision, so the order and the statistics follow the decisions."""

    def __init__(self, src: Sources):
        self.src = src
        self.issues = _read_issues(src.issues)
        self.labels = pd.read_parquet(src.labels).astype({"person_id": str, "image_id": str}) \
            if src.labels.exists() else None
        self.audit_n = src.audit
        read_corrections(src.corrections)  # a malformed file stops the server before it serves
        manifest = pd.read_parquet(src.manifest, columns=["image_id", "path"]) if src.manifest.exists() \
            else pd.DataFrame(columns=["image_id", "path"])
        self.crop_row = {i: n for n, i in enumerate(manifest["image_id"].astype(str))}
        self.original = dict(zip(manifest["image_id"].astype(str), manifest["path"].astype(str)))
        self.crops = np.load(src.crops, mmap_mode="r") if src.crops.exists() else None
        self.rebuild()

    def rebuild(self, rows: pd.DataFrame | None = None) -> None:
        """The queue under the decisions in the corrections file (or `rows` of it, just written).
        An item's and a person's fixed parts are made once; order, P(real) and fixes every time."""
        rows = read_corrections(self.src.corrections) if rows is None else rows
        self.queue = build(self.issues, rows, labels=self.labels, audit=self.audit_n, seed=self.src.audit_seed,
                           age_edges=self.src.age_edges, threshold=self.src.threshold)
        table = self.queue.table
        if self.src.fields:
            table = table[table["field"].isin(self.src.fields)]
        self.table = table
        self.corrections = rows
        cache = getattr(self, "_items", {})
        new = table[~table["item_id"].isin(cache)]
        if len(new):
            by_issue = self.queue.rows.set_index("issue_id", drop=False)
            values = decision_keys(self.queue.rows)["value"].set_axis(self.queue.rows["issue_id"])
            extra_cols = [c for c in self.queue.rows.columns if c not in (
                "issue_id", "person_id", "image_id", "field", "given", "suggested", "score", "kind")]
            for r in new.itertuples(index=False):
                first = by_issue.loc[r.ids[0]]
                swap = first["kind"] == "swap"
                cache[r.item_id] = {
                    "id": r.item_id, "ids": list(r.ids), "key": list(r.key), "person_id": r.person_id,
                    "field": r.field, "kind": r.kind, "group": GROUP_NAMES[group_of(r.field)],
                    "given": str(first["given"]), "suggested": str(first["suggested"]), "value": values[r.ids[0]],
                    "score": _number(r.score), "p": None,
                    "images": [i for i in by_issue.loc[list(r.ids), "image_id"] if i != PERSON],
                    "extra": {c: str(first[c]) for c in extra_cols if str(first[c]) not in ("", "nan")},
                    "choices": _choices(r.field, swap, self.src.age_edges, str(first["suggested"])),
                    "swap": bool(swap),
                }
        self._items = cache
        self.items = [cache[i] for i in table["item_id"]]
        for item, p in zip(self.items, table["p"]):
            item["p"] = _number(p)
        self.by_id = {i: item for item in self.items for i in item["ids"]}
        others = self.queue.rows.loc[self.queue.rows["field"] == "duplicate", "suggested"]  # shown beside the copy
        self.persons = self._persons(set(self.queue.rows["person_id"]) | set(others))

    def _persons(self, wanted: set[str]) -> dict[str, dict[str, Any]]:
        if self.labels is None:
            return {}
        cache = getattr(self, "_person_cache", {})
        missing = wanted - set(cache)
        labels = self.labels[self.labels["person_id"].isin(missing)]
        order = {stem: i for i, stem in enumerate(L.MASK_FILES)}
        notes = self.queue.notes
        for pid, rows in labels.groupby("person_id"):
            rows = rows.assign(stem=rows["image_id"].str.rsplit("/", n=1).str[-1])
            rows = rows.sort_values("stem", key=lambda s: s.map(lambda x: order.get(x, len(order))), kind="stable")
            first = rows.iloc[0]
            mine = notes[notes["person_id"].astype(str) == pid]
            cache[pid] = {
                "gender": _name(first["gender"], L.GENDERS), "age": int(first["age"]),
                "age_bin": L.age_bin_names(self.src.age_edges)[L.age_bin(int(first["age"]), self.src.age_edges)],
                "images": [{"id": i, "stem": st, "mask": _name(m, L.MASKS)}
                           for i, st, m in zip(rows["image_id"], rows["stem"], rows["mask"])],
                "notes": [f"{stem_of(n.image_id)}: {n.detail or n.kind}" for n in mine.itertuples()],
            }
        self._person_cache = cache
        fixes = self._fixes()
        return {pid: {**cache[pid], "fixes": fixes.get(pid, [])} for pid in wanted if pid in cache}

    def _fixes(self) -> dict[str, list[str]]:
        """Person id -> its accepted label corrections as KEY=VALUE (what a --fix or an accept set)."""
        c = self.corrections
        c = c[c["field"].isin(FIELDS) & (c["decision"] == "accept")]
        out: dict[str, list[str]] = {}
        for r in c.itertuples():
            out.setdefault(r.person_id, []).append(
                f"{r.field if r.image_id == PERSON else stem_of(r.image_id)}={r.value}")
        return out

    def decisions(self) -> dict[str, dict[str, str]]:
        """Item id -> its decision in the corrections file: {decision, value, source}."""
        rows = self.corrections
        by_key = {tuple(k): r for k, r in zip(rows[KEY].to_numpy().tolist(), rows.to_dict("records"))}
        return {it["id"]: {k: by_key[tuple(it["key"])][k] for k in ("decision", "value", "source")}
                for it in self.items if tuple(it["key"]) in by_key}

    def _live(self) -> dict[str, Any]:
        """What changes with a decision: decisions, progress, order, P(real), statistics, rerun."""
        decisions = self.decisions()
        return {"decisions": decisions, "progress": {"reviewed": len(decisions), "total": len(self.items)},
                "order": [it["id"] for it in self.items], "p": {it["id"]: it["p"] for it in self.items},
                "stats": self.queue.summary.stats, "audit_n": self.audit_n,
                "fixes": {pid: p["fixes"] for pid, p in self.persons.items() if p["fixes"]},
                "rerun": rerun_plan(str(self.src.corrections), root=self.src.root)}

    def state(self) -> dict[str, Any]:
        return {"items": self.items, "persons": self.persons, "corrections": str(self.src.corrections),
                "threshold": self.src.threshold, **self._live()}

    def item(self, issue_id: str) -> dict[str, Any]:
        item = self.by_id.get(issue_id)
        if item is None:
            raise HTTPException(404, unknown_ids_message([issue_id], self.by_id))
        return item

    def decide(self, d: Decision) -> dict[str, Any]:
        item = self.item(d.id)
        rows = self.queue.rows[self.queue.rows["issue_id"].isin(item["ids"])]
        value = None
        if d.decision == "clear" and d.value is not None:
            raise HTTPException(400, "a 'clear' takes no value")
        if item["field"] == AUDIT and d.decision == "accept":
            raise HTTPException(400, "an audit item is decided with r (all labels right) or a fix (KEY=VALUE)")
        if d.decision == "fix" and not d.value:
            raise HTTPException(400, "a fix takes KEY=VALUE, e.g. gender=female, age=44, mask3=incorrect")
        previous = self.decisions().get(item["id"])
        try:
            if d.decision == "fix":
                fixes = [parse_fix(t) for t in d.value.replace(",", " ").split()]
                person = self.labels[self.labels["person_id"] == item["person_id"]] if self.labels is not None \
                    else pd.DataFrame()
                written = record_fix(self.src.corrections, rows, person, fixes, self.src.source)
            elif d.decision == "clear":
                written = clear_decisions(self.src.corrections, rows)
                if item["field"] == AUDIT:  # the labels an audit fixed go with it
                    pid = item["person_id"]
                    written = update_corrections(self.src.corrections, lambda c: c[~(
                        (c["person_id"] == pid) & c["field"].isin(FIELDS))])
            else:
                if d.value is not None:
                    value = check_value(item["field"], d.value, swap=item["swap"])
                written = append_decisions(self.src.corrections, rows, d.decision, self.src.source, value=value)
        except CorrectionsError as e:
            raise HTTPException(409, str(e)) from None
        except ValueError as e:
            raise HTTPException(400, str(e)) from None
        self.rebuild(written)
        live = self._live()
        return {"id": item["id"], "decision": live["decisions"].get(item["id"]), "previous": previous, **live}

    def add_audit(self, n: int) -> dict[str, Any]:
        if self.labels is None:
            raise HTTPException(409, f"{self.src.labels} is needed for audit items")
        self.audit_n = n
        self.rebuild()
        return self.state()

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

    @app.post("/api/audit")
    def audit(a: AuditRequest) -> dict[str, Any]:
        return review.add_audit(a.n)

    @app.get("/api/stats")
    def stats() -> dict[str, Any]:
        return review.queue.summary.stats

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
