"""dvc stage `ingest`: data.root (competition layout) -> data/interim/manifest.parquet and
data/interim/ingest_report.csv."""

import os
import sys
from pathlib import Path

import yaml
from rich.console import Console

from pipeline.ingest import IngestError, ingest, summary_table

OUT = Path("data/interim")


def replace_atomically(path: Path, write) -> None:
    """Write through a temporary name in the same folder, then rename over `path`."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


if __name__ == "__main__":
    params = yaml.safe_load(open("params.yaml"))
    root = Path(params["data"]["root"])
    workers = int((params.get("ingest") or {}).get("workers", 0))
    console = Console()
    try:
        result = ingest(root, workers=workers)
    except IngestError as e:
        console.print(f"ingest failed: {e}", style="red", markup=False, highlight=False)
        sys.exit(1)
    OUT.mkdir(parents=True, exist_ok=True)
    replace_atomically(
        OUT / "manifest.parquet", lambda p: result.manifest.to_parquet(p, index=False)
    )
    replace_atomically(OUT / "ingest_report.csv", lambda p: result.report.to_csv(p, index=False))
    console.print(summary_table(result))
    console.print(
        f"wrote {OUT}/manifest.parquet ({len(result.manifest)} rows), {OUT}/ingest_report.csv"
    )
