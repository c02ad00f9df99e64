"""`dvc plots show` renders with no network: the repo's .dvc/config points plots.html_template at a
page with vega, vega-lite and vega-embed inlined. Checked with DVC itself and a real browser that
may reach nothing."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chromium import launch
from pipeline.review.plots_template import offline_template

REPO = Path(__file__).resolve().parents[1]


def test_template_keeps_dvc_placeholders_and_refuses_unsafe_scripts():
    page = offline_template({"a.js": "var a = {x: 1};"})
    assert "{plot_divs}" in page and "{refresh_tag}" in page and "{scripts}" not in page
    with pytest.raises(ValueError):
        offline_template({"b.js": "document.write('</script>')"})


@pytest.fixture
def plots_html(tmp_path) -> Path:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1"}
    (tmp_path / "f1.csv").write_text("class,f1\n" + "".join(f"c{i},{i / 20:.2f}\n" for i in range(18)))
    (tmp_path / "curve.csv").write_text("step,loss\n" + "".join(f"{i},{1 / (i + 1):.3f}\n" for i in range(10)))
    (tmp_path / "dvc.yaml").write_text("plots:\n  - f1.csv:\n      template: bar_horizontal\n      x: f1\n"
                                       "      y: class\n  - curve.csv:\n      x: step\n      y: loss\n")
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q", "--force"]):
        subprocess.run(cmd, cwd=tmp_path, env=env, check=True, capture_output=True)
    shutil.copytree(REPO / ".dvc" / "plots", tmp_path / ".dvc" / "plots")
    shutil.copy(REPO / ".dvc" / "config", tmp_path / ".dvc" / "config")  # the repo's plots.html_template
    out = subprocess.run(["dvc", "plots", "show", "-o", "out"], cwd=tmp_path, env=env, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    return tmp_path / "out" / "index.html"


def test_dvc_plots_show_renders_charts_offline(plots_html):
    from playwright.sync_api import sync_playwright

    page_text = plots_html.read_text()
    assert "cdn.jsdelivr" not in page_text and "vegaEmbed" in page_text
    with sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context()
        outside, errors = [], []
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                      else (outside.append(route.request.url), route.abort()))
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(plots_html.as_uri())
        page.wait_for_function("document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length >= 2",
                               timeout=20_000)
        sizes = page.evaluate("[...document.querySelectorAll('.vega-embed canvas')].map(c => c.width * c.height)")
        page.screenshot(path=str(plots_html.parent / "plots.png"), full_page=True)
        browser.close()
    assert all(s > 10_000 for s in sizes), sizes
    assert not outside and not errors, (outside, errors)
