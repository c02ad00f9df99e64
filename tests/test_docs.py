"""The docs stay true to the code: the README stays short, every params.yaml key the schema knows
is in docs/params.md, and every relative link in README.md and docs/ points at a file."""

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from pipeline import params as P

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted((REPO / "docs").glob("*.md"))


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            out += _keys(kind, f"{prefix}{name}.")
        else:
            out.append(f"{prefix}{name}")
    return out


def test_readme_is_short():
    assert len((REPO / "README.md").read_text().splitlines()) <= 250


def _section(text: str, name: str) -> str:
    found = re.search(rf"^##+ `{re.escape(name)}`.*?$(.*?)(?=^##+ |\Z)", text, re.M | re.S)
    return found.group(1) if found else ""


@pytest.mark.parametrize("key", _keys(P.Params))
def test_every_schema_key_is_documented(key):
    """docs/params.md has a row for the key under its section's heading, or names it in full
    (`synth.workers`); the oof section may point at train's rows for the TrainConfig fields."""
    text = (REPO / "docs" / "params.md").read_text()
    *sections, leaf = key.split(".")
    row = rf"^\| `{re.escape(leaf)}` \|"
    places = [_section(text, ".".join(sections)), _section(text, sections[-1])] if sections else [text]
    if sections == ["oof"]:
        places.append(_section(text, "train"))
    assert any(re.search(row, t, re.M) for t in places) or f"`{key}`" in text, \
        f"docs/params.md does not document `{key}`"


@pytest.mark.parametrize("page", [REPO / "README.md", *DOCS], ids=lambda p: p.name)
def test_relative_links_resolve(page):
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
        assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"
