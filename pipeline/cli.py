"""The `curate` command line."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="curate: data-centric curation for mask x gender x age photo classification.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """Data-centric curation pipeline. Run `dvc repro` for the whole pipeline; these commands
    are the pieces people use by hand."""
