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


def _age_edges(params: Path) -> tuple[int, int]:
    from pipeline.files import load_params
    from pipeline.labels import DEFAULT_AGE_EDGES

    if params.exists():
        edges = (load_params(params) or {}).get("relabel", {}).get("age_edges")
        if edges:
            return tuple(edges)
    return DEFAULT_AGE_EDGES


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


def _print_table(shown, total: int, hidden: int, labels_path: Path) -> None:
    """A ranked table; on a terminal too narrow for its fixed columns and 20 characters of each
    extra one (about 130 with image-level issues), the same rows as a list, two or three lines
    each, so nothing is cut to "…"."""
    from rich.console import Console
    from rich.table import Table

    years = _given_years(shown, labels_path)
    extra = _extra_columns(shown)
    title = f"label issues: {len(shown)} shown of {total}" \
        + (f" ({hidden} decided hidden, --all shows them)" if hidden else "")
    rows = []
    for rank, r in enumerate(shown.itertuples(index=False), 1):
        row = r._asdict()
        given = str(row["given"])
        if row["field"] == "age" and row["person_id"] in years:
            given = f"{given} ({years[row['person_id']]} y)"
        rows.append((str(rank), f"{row['score']:.3f}", str(row["kind"]), str(row["person_id"]),
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


@app.command("inspect-noise")
def inspect_noise(
    top: int = typer.Option(20, "--top", min=0, help="Show the N highest-scoring issues (0 = all). "
                            "The two rows of a swap pair stay together."),
    fmt: Literal["table", "csv", "json"] = typer.Option(
        "table", "--format", help="table: ranked rich table; csv: columns "
        "person_id,image_id,field,given,suggested,score,issue_id (+ any extra columns of the issue list); "
        "json: list of records (with issue_id, kind)."),
    html: Path | None = typer.Option(None, "--html", dir_okay=False, help="Also write a self-contained "
                                     "HTML gallery of the shown issues (each person's crops side by side)."),
    accept: list[str] = typer.Option([], "--accept", metavar="ID", help="Accept issue ID(s): repeat the "
                                     "option or comma-separate. Written to the corrections file; the next "
                                     "`dvc repro` applies them from the rebalance stage on."),
    reject: list[str] = typer.Option([], "--reject", metavar="ID", help="Reject issue ID(s) (the label is "
                                     "right): recorded so the issue is hidden and left alone."),
    serve: bool = typer.Option(False, "--serve", help="Review in the browser: a local web app showing one "
                               "issue at a time with the person's photos; keys a/r/e/s/j/k/u decide."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="Port of --serve."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address --serve binds to (default: this machine only)."),
    compare: Path | None = typer.Option(None, "--compare", exists=True, dir_okay=False, help="Known-fixes "
                                        "list (person_id,field,fix,source or the corrections format): report "
                                        "which known fixes are flagged and which are not."),
    show_all: bool = typer.Option(False, "--all", help="Also show issues already decided in the "
                                  "corrections file."),
    field: list[str] = typer.Option([], "--field", metavar="F", help="Only issues of these fields (repeat or "
                                    "comma-separate): mask, gender, age, duplicate, outlier, quality."),
    issues_path: Path = typer.Option(Path("reports/noise/issues.csv"), "--issues",
                                     help="Ranked issues written by the noise stage."),
    labels_path: Path = typer.Option(Path("data/processed/labels.parquet"), "--labels",
                                     help="Labels frame (each person's images and given age in years)."),
    crops_path: Path = typer.Option(Path("data/interim/crops.npy"), "--crops",
                                    help="Crop cache, rows in manifest order (for the gallery)."),
    manifest_path: Path = typer.Option(Path("data/interim/manifest.parquet"), "--manifest",
                                       help="Manifest: maps image_id to its crop row and original file."),
    corrections_path: Path = typer.Option(Path("data/corrections.csv"), "--corrections",
                                          help="Corrections file that --accept/--reject/--serve write."),
    params_path: Path = typer.Option(Path("params.yaml"), "--params",
                                     help="Read relabel.age_edges from here (age bins to choose from)."),
    source: str = typer.Option("inspect-noise", "--source", help="Source column of decisions written."),
) -> None:
    """Review the label issues found by the noise stage: ranked list, HTML gallery, accept/reject
    decisions for the corrections file, a review web app, and overlap with a known-fixes list."""
    import json
    import sys

    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from pipeline.curation.corrections import append_decisions, decided, read_corrections
    from pipeline.review.rerun import rerun_plan

    err = Console(stderr=True)
    if not issues_path.exists():
        err.print(f"[red]{issues_path} does not exist yet: run `dvc repro noise` first.[/red]")
        raise typer.Exit(1)
    issues = pd.read_csv(issues_path, dtype={"issue_id": str, "person_id": str, "image_id": str, "given": str, "suggested": str},
                         keep_default_na=False).astype({"score": float})
    fields = _split_ids(field)
    if fields:
        from pipeline.curation.corrections import FIELDS, TYPE_FIELDS

        bad = sorted(set(fields) - set(FIELDS + TYPE_FIELDS))
        if bad:
            err.print(f"[red]--field {', '.join(bad)}: should be one of {', '.join(FIELDS + TYPE_FIELDS)}[/red]")
            raise typer.Exit(2)
        issues = issues[issues["field"].isin(fields)].reset_index(drop=True)

    if serve:
        from pipeline.review.app import Sources, serve as serve_app

        serve_app(Sources(issues=issues_path, labels=labels_path, crops=crops_path, manifest=manifest_path,
                          corrections=corrections_path, age_edges=_age_edges(params_path), source=source),
                  host=host, port=port)
        return

    accept_ids, reject_ids = _split_ids(accept), _split_ids(reject)
    if accept_ids or reject_ids:
        unknown = sorted(set(accept_ids + reject_ids) - set(issues["issue_id"]))
        both = sorted(set(accept_ids) & set(reject_ids))
        if unknown or both:
            err.print(f"[red]unknown issue id(s): {unknown}[/red]" if unknown else
                      f"[red]both accepted and rejected: {both}[/red]")
            raise typer.Exit(2)
        for decision, ids in (("accept", accept_ids), ("reject", reject_ids)):
            if ids:
                append_decisions(corrections_path, issues[issues["issue_id"].isin(ids)], decision, source)
                err.print(f"{decision}ed {len(ids)} issue(s) -> {corrections_path}")
        err.print(rerun_plan(corrections_path.as_posix())["message"])
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

    from pipeline.curation.noise import top_issues

    total = len(issues)
    if not show_all:
        issues = issues[~decided(issues, read_corrections(corrections_path))].reset_index(drop=True)
    hidden = total - len(issues)
    shown = top_issues(issues, top) if top else issues
    if fmt == "csv":
        sys.stdout.write(shown[CSV_COLUMNS + _extra_columns(shown)].to_csv(index=False))
    elif fmt == "json":
        # pandas escapes "/" in strings; a round trip through json gives plain ids
        sys.stdout.write(json.dumps(json.loads(shown.to_json(orient="records")), indent=2) + "\n")
    else:
        _print_table(shown, len(issues), hidden, labels_path)

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
