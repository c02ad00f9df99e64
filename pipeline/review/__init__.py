"""Reviewing label issues: the `curate inspect-noise --serve` web app (app.py, static/) and what
a decision makes the next `dvc repro` rerun (rerun.py). Importing this package imports no web
framework; `pipeline.review.app` does."""
