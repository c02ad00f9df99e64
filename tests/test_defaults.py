"""One default: a library function's defaults are params.yaml's, so calling the library gives the
pipeline's flags; and each knob's allowed values live in one place (pipeline.params)."""

import dataclasses
import inspect
import typing
from pathlib import Path

import pytest
import yaml

from pipeline import labels as L
from pipeline import params as P

REPO = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((REPO / "params.yaml").read_text())


def _keyword_defaults(fn) -> dict:
    return {n: p.default for n, p in inspect.signature(fn).parameters.items()
            if p.kind is p.KEYWORD_ONLY and p.default is not p.empty}


def test_age_edges():
    from pipeline.data.synth import AGE_EDGES

    assert list(L.DEFAULT_AGE_EDGES) == BASE["relabel"]["age_edges"] == list(AGE_EDGES)


def test_find_issues_defaults_are_noise_find():
    from pipeline.curation.noise import find_issues

    defaults = _keyword_defaults(find_issues)
    assert defaults.pop("age_edges") == L.DEFAULT_AGE_EDGES
    assert defaults == P.Find().model_dump()
    assert {k: defaults[k] for k in BASE["noise"]["find"]} == {k: v or None for k, v in BASE["noise"]["find"].items()}


def test_find_issues_takes_the_schema_vocabularies():
    from pipeline.curation.noise import find_issues

    hints = typing.get_type_hints(find_issues)
    for name, field in P.Find.model_fields.items():
        if typing.get_origin(field.annotation) is typing.Literal:
            assert hints[name] == field.annotation, name


def test_age_prior_default():
    from pipeline.curation.age import person_ages

    assert _keyword_defaults(person_ages)["prior_wrong"] == BASE["noise"]["find"]["age_prior"]


RUNTIME = {"workers", "progress"}  # how the work runs (processes, a progress bar), not what it decides


def test_detect_defaults_are_noise_types():
    from pipeline.curation.issues import detect

    knobs = {k: v for k, v in _keyword_defaults(detect).items() if k not in RUNTIME | {"margin"}}
    assert knobs == P.Types().model_dump()
    assert _keyword_defaults(detect)["margin"] == BASE["faces"]["margin"]  # the crops' faces.margin
    assert {k: _keyword_defaults(detect)[k] for k in BASE["noise"]["types"]} == BASE["noise"]["types"]


def test_train_config_defaults_are_the_train_section():
    from pipeline.model.config import TrainConfig

    fields = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.name not in P.STAGE_SET}
    section = {k: v for k, v in BASE["train"].items() if k in fields}
    assert set(fields) <= set(section), "every TrainConfig knob is in params.yaml's train section"
    assert {k: fields[k] for k in section} == {k: (v if v != "" else None) for k, v in section.items()}


@pytest.mark.parametrize("section,extra", [("train", {"train_folds", "seed"}),
                                           ("oof", {"folds", "method", "probe_c", "draws"})])
def test_train_sections_are_the_config_plus_the_stage_keys(section, extra):
    from pipeline.model.config import TrainConfig

    model = {"train": P.Train, "oof": P.Oof}[section]
    assert set(model.model_fields) == {f.name for f in dataclasses.fields(TrainConfig)} - P.STAGE_SET | extra
    assert set(BASE[section]) <= set(model.model_fields)


def test_vocabularies_have_one_home():
    """The library's own checks use the schema's values, so the two cannot drift apart."""
    from pipeline.curation import rebalance
    from pipeline.faces import background, detect
    from pipeline.model import factory
    from pipeline.model.config import Heads

    assert background.BACKGROUNDS == typing.get_args(P.Background)
    assert tuple(detect.RANGES) == typing.get_args(P.FaceModel)
    assert rebalance.ACTIONS == typing.get_args(P.Action) and rebalance.BALANCING == typing.get_args(P.Balance)
    assert factory.HEAD_KINDS == typing.get_args(Heads)
