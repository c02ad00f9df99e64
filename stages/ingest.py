"""dvc stage `ingest`: data.root (competition layout) -> data/interim/manifest.parquet and
data/interim/ingest_report.csv."""

import sys
from pathlib import Path

from rich.console import Console

from pipeline import stage
from pipeline.files import write_csv, write_parquet
from pipeline.data.ingest import IngestError, ingest, summary_table

OUT = Path("data/interim")

if __name__ == "__main__":
    params = stage.start()
    root = Path(params["data"]["root"])
    workers = int((params.get("ingest") or {}).get("workers", 0))
    console = Console()
    try:
        result = ingest(root, workers=workers)
    except IngestError as e:
        console.print(f"ingest failed: {e}", style="red", markup=False, highlight=False)
        sys.exit(1)
    write_parquet(result.manifest, OUT / "manifest.parquet")
    write_csv(result.report, OUT / "ingest_report.csv")
    console.print(summary_table(result))
    console.print(
        f"wrote {OUT}/manifest.parquet ({len(result.manifest)} rows), {OUT}/ingest_report.csv"
    )
