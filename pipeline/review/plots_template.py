"""The HTML template `dvc plots show` fills (`plots.html_template` in .dvc/config): vega, vega-lite
and vega-embed inlined, so the charts render with no network. DVC's default page loads them from
a CDN through its `{scripts}` placeholder; this template has no such placeholder.

Rebuild with `make plots-template` (fetches the three packages from the npm registry)."""

from __future__ import annotations

import sys
from pathlib import Path

PAGE = """<!DOCTYPE html>
<html>
<head>
{{refresh_tag}}
<meta charset="utf-8">
<title>DVC Plot</title>
<!-- {versions}: inlined by `make plots-template`, nothing is fetched when the page opens -->
{scripts}
<style>
body {{ font-family: system-ui, sans-serif; }}
table {{ border-spacing: 15px; }}
</style>
</head>
<body>
{{plot_divs}}
</body>
</html>
"""


def offline_template(scripts: dict[str, str]) -> str:
    """Page with each script (name -> minified source) inlined, and DVC's `{plot_divs}` and
    `{refresh_tag}` placeholders."""
    for name, source in scripts.items():
        if "</script" in source.lower() or "{plot_divs}" in source:
            raise ValueError(f"{name} cannot be inlined: it contains '</script' or '{{plot_divs}}'")
    tags = "\n".join(f"<script>/* {name} */\n{source}\n</script>" for name, source in scripts.items())
    return PAGE.format(versions=", ".join(scripts), scripts=tags)


if __name__ == "__main__":  # python -m pipeline.review.plots_template OUT NAME=FILE...
    out, *pairs = sys.argv[1:]
    named = dict(pair.split("=", 1) for pair in pairs)
    Path(out).write_text(offline_template({n: Path(f).read_text(encoding="utf-8") for n, f in named.items()}),
                         encoding="utf-8")
    print(f"{out}: {Path(out).stat().st_size / 1e6:.2f} MB ({', '.join(named)})")
