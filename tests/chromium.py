"""Launching Debian's chromium for Playwright (its own browser download cannot work here; `make
test` installs the Debian package)."""

import os
from pathlib import Path

CHROMIUM = os.environ.get("CURATE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def launch(playwright):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: `make test` installs Debian's chromium"
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
