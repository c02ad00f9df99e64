"""The `curate` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

app = typer.Typer(
    help="curate: data-centric curation for mask x gender x age photo classification.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # plain help: rich mode labels every flag `<bool>`
)


@app.callback()
def main() -> None:
    """Data-centric curation pipeline. Run `dvc repro` for the whole pipeline; these commands
    are the pieces people use by hand."""


# --- synth -----------------------------------------------------------------------------------


@app.command("synth")
def synth(
    out: Path = typer.Argument(..., help="Folder to write (competition layout + truth.csv)."),
    persons: int = typer.Option(300, "--persons", min=1, help="Train persons (7 images each)."),
    eval_persons: int = typer.Option(150, "--eval-persons", min=0,
                                     help="Eval persons (7 images each, clean labels)."),
    seed: int = typer.Option(0, "--seed", help="Same seed and options give identical files."),
    gender_noise: float = typer.Option(0.05, "--gender-noise", min=0, max=1,
                                       help="Share of train persons with flipped gender."),
    swap_noise: float = typer.Option(0.02, "--swap-noise", min=0, max=1,
                                     help="Share of train persons with incorrect_mask <-> normal swapped."),
    age_noise: float = typer.Option(0.03, "--age-noise", min=0, max=1,
                                    help="Share of train persons whose age is moved 6-15 years "
                                    "across a bin edge (30 or 58)."),
    duplicate_noise: float = typer.Option(0.02, "--duplicate-noise", min=0, max=1,
                                          help="Share of train persons filed again under a new id "
                                          "(truth: duplicate_person, duplicate_of)."),
    outlier_noise: float = typer.Option(0.01, "--outlier-noise", min=0, max=1,
                                        help="Share of train images replaced by a stranger or an empty "
                                        "room (truth: outlier_image)."),
    quality_noise: float = typer.Option(0.02, "--quality-noise", min=0, max=1,
                                        help="Share of train images made dark, overexposed, blurred or "
                                        "tiny (truth: low_quality)."),
    size: tuple[int, int] = typer.Option((192, 256), "--size", metavar="W H",
                                         help="Image width and height (real data: 384 512)."),
    workers: int = typer.Option(0, "--workers", min=0, help="Processes (0 = all cores)."),
    hard_rate: float = typer.Option(0.04, "--hard-rate", min=0, max=1, help="Share of persons "
                                    "photographed hard (small, dark, occluded, off-centre, blurred)."),
    mirror: float = typer.Option(0.25, "--mirror", min=0, max=1,
                                 help="Probability a photo is mirrored (front-camera selfie); 0 = off."),
    exposure: float = typer.Option(0.3, "--exposure", min=0, max=2,
                                   help="Sd in stops of each session's light, half that per photo."),
    white_balance: float = typer.Option(0.08, "--white-balance", min=0, max=0.5,
                                        help="Sd of the log red/blue colour cast per session, half per photo."),
    framing: float = typer.Option(1.0, "--framing", min=0, max=3, help="Hand-held framing strength: 1 = "
                                  "scale sd 8 %, offset sd 4 % / 3 %, roll sd 3 degrees; 0 = off."),
    jpeg_quality: int = typer.Option(60, "--jpeg-quality", min=0, max=95, help="Photos saved at a JPEG "
                                     "quality from this up to 95; 0 = one quality per person (80-95)."),
    sensor_noise: float = typer.Option(3.0, "--sensor-noise", min=0, max=30,
                                       help="Sd of per-pixel colour noise in 8-bit levels; 0 = off."),
    shared_rooms: float = typer.Option(0.3, "--shared-rooms", min=0, max=1,
                                       help="Share of persons photographed three to a room (truth: room)."),
    second_room: float = typer.Option(0.1, "--second-room", min=0, max=1,
                                      help="Share of persons with 1-3 photos taken in another room."),
    refile_session: bool = typer.Option(True, "--refile-session/--no-refile-session",
                                        help="A re-filed copy wears other masks in another order."),
    refile_drift: float = typer.Option(0.3, "--refile-drift", min=0, max=1, help="Probability a "
                                       "re-filed copy's labels differ (age 1-2 years, or gender)."),
    age_near_noise: float = typer.Option(0.02, "--age-near-noise", min=0, max=1, help="Share of train "
                                         "persons whose age is 1-3 years off across 30 or 58 "
                                         "(truth: age_shift, near_edge)."),
    age_digit_noise: float = typer.Option(0.005, "--age-digit-noise", min=0, max=1, help="Share of "
                                          "train persons whose age has its digits swapped, 25 <-> 52 "
                                          "(truth: age_shift, digit_swap)."),
    mask_photo_noise: float = typer.Option(0.01, "--mask-photo-noise", min=0, max=1, help="Share of "
                                           "train persons with one photo in another mask state than "
                                           "its name (truth: mask_swap, single_mask)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty OUT."),
) -> None:
    """Generate the synthetic stand-in dataset: procedural portraits in the competition layout
    (train/train.csv, train/images/<id>_<gender>_<race>_<age>/{mask1-5,incorrect_mask,normal},
    eval/info.csv, eval/images/), injected label noise, and truth.csv with given and true labels."""
    from rich.console import Console

    from pipeline.data.synth import generate

    try:
        stats = generate(out, persons=persons, eval_persons=eval_persons, seed=seed,
                         image_size=size, gender_noise=gender_noise, swap_noise=swap_noise,
                         age_noise=age_noise, duplicate_noise=duplicate_noise,
                         outlier_noise=outlier_noise, quality_noise=quality_noise,
                         workers=workers, hard_rate=hard_rate, mirror=mirror, exposure=exposure,
                         white_balance=white_balance, framing=framing, jpeg_quality=jpeg_quality,
                         sensor_noise=sensor_noise, shared_rooms=shared_rooms, second_room=second_room,
                         refile_session=refile_session, refile_drift=refile_drift,
                         age_near_noise=age_near_noise, age_digit_noise=age_digit_noise,
                         mask_photo_noise=mask_photo_noise, overwrite=overwrite)
    except (FileExistsError, ValueError) as e:
        Console(stderr=True).print(f"[red]{e}[/red]")
        raise typer.Exit(1)
    noise = ", ".join(f"{k} {v}" for k, v in stats["noise_persons"].items())
    Console().print(
        f"{stats['images']} images ({stats['train_images']} train, {stats['eval_images']} eval) "
        f"-> {out} in {stats['seconds']:.1f}s ({stats['images_per_s']:.0f} img/s, "
        f"{stats['workers']} workers)\nnoisy persons: {noise}; "
        f"{', '.join(f'{k} {v}' for k, v in stats['issues'].items())}; label errors: "
        f"{', '.join(f'{k} {v}' for k, v in stats['label_errors'].items())}; hard persons: "
        f"{stats['hard_persons']}; ground truth: {Path(out) / 'truth.csv'}")


# --- inspect-noise ---------------------------------------------------------------------------

CSV_COLUMNS = ["person_id", "image_id", "field", "given", "suggested", "score", "issue_id"]


def _split_ids(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _params(params: Path) -> dict:
    from pipeline.files import load_params

    return (load_params(params) or {}) if params.exists() else {}


def _age_edges(params: Path) -> tuple[int, int]:
    from pipeline.labels import DEFAULT_AGE_EDGES

    edges = _params(params).get("relabel", {}).get("age_edges")
    return tuple(edges) if edges else DEFAULT_AGE_EDGES


def _threshold(params: Path) -> float:
    """noise.types.threshold: a detector row scored below it is a note, not an item."""
    from pipeline.review.queue import DEFAULT_THRESHOLD

    return float(((_params(params).get("noise") or {}).get("types") or {}).get("threshold", DEFAULT_THRESHOLD))


def _extra_columns(issues) -> list[str]:
    """Columns beyond the contract's and `kind` (e.g. the age `estimate` and `detail`), kept as they
    come; a column empty in every shown row is left out."""
    return [c for c in issues.columns if c not in CSV_COLUMNS + ["kind"] and issues[c].notna().any()
            and (issues[c].astype(str) != "").any()]


def _given_years(issues, labels_path: Path) -> dict[str, str]:
    """person_id -> given age in years, for the age rows of the table (empty without labels)."""
    import pandas as pd

    if not labels_path.exists() or not (issues["field"] == "age").any():
        return {}
    labels = pd.read_parquet(labels_path, columns=["person_id", "age"]).astype({"person_id": str})
    return labels.groupby("person_id")["age"].first().astype(str).to_dict()


def _score(value) -> str:
    return "—" if value != value else f"{value:.3f}"  # audit items have no score


def _print_table(shown, ranks: list[int], title: str, labels_path: Path) -> None:
    """A ranked table (rank = the item's place in the queue); on a terminal too narrow for its
    fixed columns and 20 characters of each extra one (about 130 with image-level issues), the
    same rows as a list, two or three lines each, so nothing is cut to "…"."""
    from rich.console import Console
    from rich.table import Table

    years = _given_years(shown, labels_path)
    extra = _extra_columns(shown)
    rows = []
    for rank, r in zip(ranks, shown.itertuples(index=False)):
        row = r._asdict()
        given = str(row["given"])
        if row["field"] == "age" and row["person_id"] in years:
            given = f"{given} ({years[row['person_id']]} y)"
        rows.append((str(rank), _score(row["score"]), str(row["kind"]), str(row["person_id"]),
                     f"[red]{given}[/red] -> [green]{row['suggested']}[/green]",
                     [str(row[c]) for c in extra], str(row["issue_id"])))
    console = Console()
    fixed = ["#", "score", "kind", "person", "given -> suggested"]
    # every column but the extra ones (detail, estimate) keeps its width: the issue id is what
    # --accept/--reject take, and a score cut to "1.0…" says nothing
    widths = [max([len(c), *(len(_plain(r[i])) for r in rows)]) for i, c in enumerate(fixed)]
    id_width = max([len("issue id"), *(len(r[6]) for r in rows)])
    needed = sum(widths) + id_width + 3 * (len(fixed) + 1 + len(extra)) + 20 * len(extra)
    if console.width < needed:
        console.print(f"[bold]{title}[/bold]")
        for rank, score, kind, person, change, more, issue_id in rows:
            console.print(f"[bold]{rank:>3}[/bold]  {score}  {kind}  {person}  {change}", soft_wrap=True)
            console.print(f"     {issue_id}", soft_wrap=True, highlight=False)
            for name, value in zip(extra, more):
                if value not in ("", "nan"):
                    console.print(f"     [dim]{name}:[/dim] {value}", highlight=False)
        return
    table = Table(title=title)
    for col, w in zip(fixed, widths):
        table.add_column(col, no_wrap=True, min_width=w, justify="right" if col in ("#", "score") else "left")
    for col in extra:
        table.add_column(col, ratio=1)
    table.add_column("issue id", no_wrap=True, min_width=id_width)
    for rank, score, kind, person, change, more, issue_id in rows:
        table.add_row(rank, score, kind, person, change, *more, issue_id)
    console.print(table)


def _plain(markup: str) -> str:
    from rich.text import Text

    return Text.from_markup(markup).plain


def _print_stats(stats: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"how good the flags are on this data ({stats['items']} items; 90 % intervals)")
    for col in ("field", "items", "decided", "accepted", "precision", "precision, all flags", "undecided",
                "real among undecided"):
        table.add_column(col, justify="left" if col == "field" else "right")
    for f, s in stats["label"].items():
        pi = s["precision_interval"]
        table.add_row(f, str(s["items"]), str(s["decided"]), str(s["accepted"]),
                      "—" if s["precision"] is None else f"{s['precision']:.2f}",
                      "—" if pi is None else f"{pi[0]:.2f} – {pi[1]:.2f}", str(s["undecided"]),
                      f"{s['expected_errors_undecided']:.1f} ({s['expected_errors_undecided_interval'][0]:g} – "
                      f"{s['expected_errors_undecided_interval'][1]:g})")
    console = Console()
    console.print(table)
    a = stats["audit"]
    if a["expected_missed_errors"] is None:
        console.print(f"audit: {a['persons']} persons decided of {a['listed']} listed; `--audit N` lists N persons "
                      "no label flag names, to estimate the errors the flags miss")
    else:
        lo, hi = a["expected_missed_errors_interval"]
        console.print(f"audit: {a['errors_found']} wrong of {a['persons']} persons audited, out of {a['population']} "
                      f"no label flag names -> {a['expected_missed_errors']:.1f} missed ({lo:g} – {hi:g}); "
                      f"recall of the label flags about {a['recall']:.2f} "
                      f"({a['recall_interval'][0]:.2f} – {a['recall_interval'][1]:.2f})")
    console.print(f"[dim]{stats['method']}[/dim]")


@app.command("inspect-noise", context_settings={"allow_extra_args": True})
def inspect_noise(
    ctx: typer.Context,
    top: int = typer.Option(20, "--top", min=0, help="Show the first N items of the queue (0 = all). An item "
                            "is one decision: the two rows of a swap pair are one item."),
    fmt: Literal["table", "csv", "json"] = typer.Option(
        "table", "--format", help="table: ranked rich table; csv: columns "
        "person_id,image_id,field,given,suggested,score,issue_id (+ any extra columns of the issue list); "
        "json: list of records (with issue_id, kind); with --stats, json is the statistics object."),
    html: Path | None = typer.Option(None, "--html", dir_okay=False, help="Also write a self-contained "
                                     "HTML gallery of the shown issues (each person's crops side by side)."),
    accept: list[str] = typer.Option([], "--accept", metavar="ID", help="Accept issue ID(s): repeat the "
                                     "option or comma-separate. Written to the corrections file; the next "
                                     "`dvc repro` applies them from the rebalance stage on."),
    reject: list[str] = typer.Option([], "--reject", metavar="ID", help="Reject issue ID(s) (the label is "
                                     "right): recorded so the issue is hidden and left alone. For an audit "
                                     "item (audit:<person_id>): all of the person's labels are right."),
    fix: list[str] = typer.Option([], "--fix", metavar="ID KEY=VALUE", help="Decide item ID with the label you "
                                  "choose (repeatable, one KEY=VALUE each): KEY gender (male|female), age (years) "
                                  "or a photo stem (mask1..mask5, incorrect_mask, normal) for its mask "
                                  "(wear|incorrect|normal). E.g. --fix gender:000001 gender=female, --fix "
                                  "audit:000007 age=44. A value equal to the given label says it is right."),
    audit: int = typer.Option(0, "--audit", min=0, metavar="N", help="Add N audit items: persons no label flag "
                              "names, drawn at random (seeded, stratified on gender x age bin), ids "
                              "audit:<person_id>. Check all their photos and labels, then --reject (all right) "
                              "or --fix (a wrong one); --stats turns them into the errors the flags miss."),
    audit_seed: int = typer.Option(0, "--audit-seed", help="Seed of the --audit draw (the same seed extends "
                                   "the same sample as N grows)."),
    stats: bool = typer.Option(False, "--stats", help="How good the flags are on this data, from the decisions "
                               "so far: per field decided, accepted, precision, the undecided and how many of "
                               "them are real (scores recalibrated on the decisions), and from the audit the "
                               "errors the flags miss and their recall; 90 % intervals."),
    serve: bool = typer.Option(False, "--serve", help="Review in the browser: a local web app showing one "
                               "item at a time with the person's photos; keys a/r/e/s/j/k/u decide."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="Port of --serve."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address --serve binds to (default: this machine only)."),
    compare: Path | None = typer.Option(None, "--compare", exists=True, dir_okay=False, help="Known-fixes "
                                        "list (person_id,field,fix,source or the corrections format): report "
                                        "which known fixes are flagged and which are not."),
    show_all: bool = typer.Option(False, "--all", help="Also show items already decided in the "
                                  "corrections file (they come first)."),
    show_notes: bool = typer.Option(False, "--notes", help="List the detector notes instead: face-detector "
                                    "fallbacks scored below noise.types.threshold, information on a person "
                                    "rather than items to decide."),
    field: list[str] = typer.Option([], "--field", metavar="F", help="Only items of these fields (repeat or "
                                    "comma-separate): mask, gender, age, duplicate, outlier, quality, audit; "
                                    "labels (mask, gender, age, duplicate) or photos (outlier, quality)."),
    issues_path: Path = typer.Option(Path("reports/noise/issues.csv"), "--issues",
                                     help="Ranked issues written by the noise stage."),
    labels_path: Path = typer.Option(Path("data/processed/labels.parquet"), "--labels",
                                     help="Labels frame (each person's images and given labels; audits and --fix "
                                     "need it)."),
    crops_path: Path = typer.Option(Path("data/interim/crops.npy"), "--crops",
                                    help="Crop cache, rows in manifest order (for the gallery)."),
    manifest_path: Path = typer.Option(Path("data/interim/manifest.parquet"), "--manifest",
                                       help="Manifest: maps image_id to its crop row and original file."),
    corrections_path: Path = typer.Option(Path("data/corrections.csv"), "--corrections",
                                          help="Corrections file that --accept/--reject/--fix/--serve write."),
    params_path: Path = typer.Option(Path("params.yaml"), "--params",
                                     help="Read relabel.age_edges and noise.types.threshold from here."),
    source: str = typer.Option("inspect-noise", "--source", help="Source column of decisions written."),
) -> None:
    """Review the issues found by the noise stage, label fixes first: the ranked queue, HTML gallery,
    accept / reject / fix decisions for the corrections file, audit items, statistics of how good
    the flags are, a review web app, and overlap with a known-fixes list."""
    import json
    import sys

    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from pipeline.curation.corrections import (CorrectionsError, append_decisions, parse_fix, read_corrections,
                                               record_fix)
    from pipeline.labels import AUDIT
    from pipeline.review import queue as Q
    from pipeline.review.rerun import rerun_plan
    from pipeline.review.session import build

    err = Console(stderr=True, highlight=False)
    if ctx.args and len(ctx.args) != len(fix):
        err.print(f"[red]unexpected argument(s) {' '.join(ctx.args)}: each --fix takes ID KEY=VALUE[/red]"
                  if fix else f"[red]unexpected argument(s): {' '.join(ctx.args)}[/red]")
        raise typer.Exit(2)
    if fix and len(ctx.args) != len(fix):
        err.print("[red]each --fix takes ID KEY=VALUE, e.g. --fix gender:000001 gender=female[/red]")
        raise typer.Exit(2)
    if not issues_path.exists():
        err.print(f"[red]{issues_path} does not exist yet: run `dvc repro noise` first.[/red]")
        raise typer.Exit(1)
    try:
        corrections = read_corrections(corrections_path)
    except CorrectionsError as e:
        err.print(f"[red]{e}[/red]\nfix or remove the line(s); nothing was read or written")
        raise typer.Exit(2)
    try:
        fields = Q.expand_fields(_split_ids(field))
    except ValueError as e:
        err.print(f"[red]--field {e}[/red]")
        raise typer.Exit(2)
    issues = pd.read_csv(issues_path, dtype={"issue_id": str, "person_id": str, "image_id": str, "given": str,
                                             "suggested": str}, keep_default_na=False).astype({"score": float})

    if serve:
        from pipeline.review.app import Sources, serve as serve_app

        serve_app(Sources(issues=issues_path, labels=labels_path, crops=crops_path, manifest=manifest_path,
                          corrections=corrections_path, age_edges=_age_edges(params_path), source=source,
                          threshold=_threshold(params_path), audit=audit, audit_seed=audit_seed, fields=tuple(fields)),
                  host=host, port=port)
        return

    labels = pd.read_parquet(labels_path).astype({"person_id": str, "image_id": str}) if labels_path.exists() else None
    accept_ids, reject_ids = _split_ids(accept), _split_ids(reject)
    fixes: dict[str, list[tuple[str, str]]] = {}
    for item_id, text in zip(fix, ctx.args):
        try:
            fixes.setdefault(item_id.strip(), []).append(parse_fix(text))
        except ValueError as e:
            err.print(f"[red]--fix {item_id} {e}[/red]")
            raise typer.Exit(2)
    wanted = accept_ids + reject_ids + list(fixes)
    audits = [i.split(":", 1)[1] for i in wanted if i.startswith(f"{AUDIT}:")]
    if (audit or audits) and labels is None:
        err.print(f"[red]{labels_path} is needed for audit items: run `dvc repro relabel` first.[/red]")
        raise typer.Exit(1)
    queue = build(issues, corrections, labels=labels, audit=audit, seed=audit_seed, age_edges=_age_edges(params_path),
                  threshold=_threshold(params_path), include=audits)

    if wanted:
        known = set(queue.table["item_id"]) | set(queue.rows["issue_id"])
        unknown = sorted(set(wanted) - known)
        both = sorted((set(accept_ids) & set(reject_ids)) | (set(fixes) & set(accept_ids + reject_ids)))
        audit_accepts = sorted(i for i in accept_ids if i.startswith(f"{AUDIT}:"))
        if unknown:
            err.print(f"[red]{Q.unknown_ids_message(unknown, sorted(known))}[/red]")
            if any(u.startswith(f"{AUDIT}:") for u in unknown):
                err.print("audit ids name a person no mask, gender or age flag names")
            raise typer.Exit(2)
        if both or audit_accepts:
            err.print(f"[red]decided twice in one command: {both}[/red]" if both else
                      f"[red]{audit_accepts}: an audit item is decided with --reject (all labels right) or "
                      "--fix ID KEY=VALUE (the wrong label and its right value)[/red]")
            raise typer.Exit(2)
        if fixes and labels is None:
            err.print(f"[red]{labels_path} is needed for --fix (the person's photos and given labels).[/red]")
            raise typer.Exit(1)
        rows_of = {i: queue.rows[queue.rows["issue_id"].isin(ids)]
                   for ids in queue.table["ids"] for i in ids}
        try:
            for decision, ids in (("accept", accept_ids), ("reject", reject_ids)):
                if ids:
                    append_decisions(corrections_path, pd.concat([rows_of[i] for i in ids]), decision, source)
                    err.print(f"{decision}ed {len(ids)} item(s) -> {corrections_path}")
            for item_id, pairs in fixes.items():
                item = rows_of[item_id]
                person = labels[labels["person_id"] == str(item["person_id"].iloc[0])]
                record_fix(corrections_path, item, person, pairs, source)
                err.print(f"fixed {item_id}: {', '.join(f'{k}={v}' for k, v in pairs)} -> {corrections_path}")
        except (CorrectionsError, ValueError) as e:
            err.print(f"[red]{e}[/red]")
            raise typer.Exit(2)
        err.print(rerun_plan(corrections_path.as_posix())["message"])
        return

    if stats:
        if fmt == "json":
            sys.stdout.write(json.dumps(queue.summary.stats, indent=2) + "\n")
        else:
            _print_stats(queue.summary.stats)
        return

    if compare is not None:
        from pipeline.curation.noise import compare_known

        known = pd.read_csv(compare, dtype=str, keep_default_na=False)
        result = compare_known(issues, known, age_edges=_age_edges(params_path))
        if fmt == "csv":
            sys.stdout.write(result.to_csv(index=False))
        elif fmt == "json":
            sys.stdout.write(json.dumps(json.loads(result.to_json(orient="records")), indent=2) + "\n")
        else:
            table = Table(title=f"known fixes: {int(result['flagged'].sum())} of {len(result)} flagged, "
                          f"{int(result['agrees'].sum())} with the same suggestion")
            for col in ("person_id", "field", "fix", "flagged", "suggested", "agrees"):
                table.add_column(col)
            for r in result.itertuples():
                table.add_row(r.person_id, r.field, r.fix, "yes" if r.flagged else "[red]no[/red]",
                              r.suggested, "yes" if r.agrees else "no")
            Console().print(table)
        return

    if show_notes:
        shown, ranks = queue.notes, list(range(1, len(queue.notes) + 1))
        title = f"detector notes: {len(shown)} (information on the persons, not items to decide)"
    else:
        table = queue.table
        if fields:
            table = table[table["field"].isin(fields)]
        items_total = len(table)
        decided = table["outcome"].notna()
        if not show_all:
            table = table[~decided.to_numpy()]
        hidden = items_total - len(table)
        picked = table.head(top) if top else table
        shown = Q.rows_in_order(queue.rows, picked)
        place = {i: n for n, ids in enumerate(picked["ids"], 1) for i in ids}
        ranks = [place[i] for i in shown["issue_id"]]
        title = f"review queue: {len(picked)} shown of {len(table)} items, label fixes first" \
            + (f" ({hidden} decided hidden, --all shows them)" if hidden else "") \
            + (f"; {len(queue.notes)} detector notes aside (--notes)" if len(queue.notes) else "")
    if fmt == "csv":
        sys.stdout.write(shown[CSV_COLUMNS + _extra_columns(shown)].to_csv(index=False))
    elif fmt == "json":
        # pandas escapes "/" in strings; a round trip through json gives plain ids
        sys.stdout.write(json.dumps(json.loads(shown.to_json(orient="records")), indent=2) + "\n")
    else:
        _print_table(shown, ranks, title, labels_path)

    if html is not None:
        import numpy as np

        from pipeline.review.gallery import write_gallery

        for path in (labels_path, crops_path, manifest_path):
            if not path.exists():
                err.print(f"[red]{path} is needed for --html: run `dvc repro noise` first.[/red]")
                raise typer.Exit(1)
        manifest = pd.read_parquet(manifest_path, columns=["image_id"])
        crop_index = {image_id: i for i, image_id in enumerate(manifest["image_id"].astype(str))}
        write_gallery(shown, pd.read_parquet(labels_path), np.load(crops_path, mmap_mode="r"), crop_index, html)
        err.print(f"gallery: {html}")


@app.command("predict")
def predict(
    info: Path = typer.Option(None, "--info", help="eval/info.csv to answer (default: "
                              "<data.root>/eval/info.csv from params.yaml)."),
    models_dir: Path = typer.Option(Path("models"), "--models", file_okay=False,
                                    help="Folder with the trained fold*.pt checkpoints (all are soft-voted)."),
    out: Path = typer.Option(Path("submission.csv"), "--out", help="Where to write ImageID,ans."),
    tta_flip: bool = typer.Option(True, "--tta/--no-tta", help="Average with horizontally flipped crops."),
    device: str = typer.Option(None, "--device", help="cuda / cpu (default: cuda when available)."),
    manifest_path: Path = typer.Option(Path("data/interim/manifest.parquet"), "--manifest",
                                       help="Manifest from the ingest stage (eval rows are predicted)."),
    crops_path: Path = typer.Option(Path("data/interim/crops.npy"), "--crops",
                                    help="Crop cache from the faces stage, rows in manifest order."),
    params_path: Path = typer.Option(Path("params.yaml"), "--params", help="Params file (data.root)."),
) -> None:
    """Write a competition submission (ImageID,ans in info.csv order) by soft-voting the trained
    fold models over the eval crops. Run `dvc repro faces` first for a new data root."""
    import numpy as np
    import pandas as pd
    from rich.console import Console

    from pipeline.files import load_params, write_csv
    from pipeline.model.predict import predict_eval

    params = load_params(params_path)
    info = info or Path(params["data"]["root"]) / "eval" / "info.csv"
    for path, how in ((info, "point --info at eval/info.csv"), (manifest_path, "run `dvc repro ingest`"),
                      (crops_path, "run `dvc repro faces`")):
        if not path.exists():
            Console(stderr=True).print(f"[red]{path} not found: {how}[/red]")
            raise typer.Exit(1)
    try:
        sub, _, missing = predict_eval(pd.read_parquet(manifest_path), np.load(crops_path, mmap_mode="r"),
                                       pd.read_csv(info, dtype={"ImageID": str}),
                                       sorted(models_dir.glob("fold*.pt")),
                                       age_edges=params["relabel"]["age_edges"], tta_flip=tta_flip,
                                       device=device)
    except FileNotFoundError as e:
        Console(stderr=True).print(f"[red]{e}[/red]")
        raise typer.Exit(1)
    write_csv(sub, out)
    Console().print(f"{len(sub)} rows -> {out}" + (f" ({len(missing)} unreadable images answered "
                                                    "with the most common class)" if missing else ""))


@app.command("check")
def check(
    params: Path = typer.Option(Path("params.yaml"), "--params", help="Params file to check."),
) -> None:
    """Check params.yaml before running anything: unknown keys, bad values, timm model names,
    missing files and the corrections files. Prints one line per problem and exits 1 if any;
    the `check` stage of dvc.yaml runs the same check first."""
    from pipeline.params import check as check_params

    problems = check_params(params)
    for line in problems:
        typer.echo(line, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{params}: ok")
