"""The review page in a real browser: Debian's chromium driven by Playwright (its own browser
download cannot work here; `make test` installs chromium). Serves a small review set made in the
test, decides with the keyboard, reloads, and checks both the page and the corrections file."""

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from chromium import launch
from pipeline.curation.corrections import read_corrections
from pipeline.review.app import create_app
from review_data import make_review_set

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def serve(src):
    """Run the app with uvicorn in a thread; yield its base URL."""
    server = uvicorn.Server(uvicorn.Config(create_app(src), host="127.0.0.1", port=_free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "review server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def page(browser, tmp_path, request):
    persons, issues = getattr(request, "param", (8, 8))
    src = make_review_set(tmp_path, persons=persons, issues_wanted=issues)
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")  # the page says what `dvc repro` reruns
    for base in serve(src):
        context = browser.new_context(viewport={"width": 1280, "height": 820})
        context.set_default_timeout(120_000)  # a busy 2-core machine can starve the server thread for a while
        outside, errors = [], []
        # nothing may come from outside the server: no CDN, no web font
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                      else (outside.append(route.request.url), route.abort()))
        pg = context.new_page()
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.goto(base)
        pg.wait_for_selector("body[data-ready='1']")
        yield pg, src
        shot = tmp_path / "review.png"
        pg.screenshot(path=str(shot))
        if os.environ.get("CURATE_SCREENSHOT"):
            shutil.copy(shot, os.environ["CURATE_SCREENSHOT"])
        context.close()
        assert not outside, f"requests left the machine: {outside}"
        assert not errors, errors


def press_and_wait(pg, key: str) -> None:
    """Press a key that decides; return once the server answered and the page has rendered that answer."""
    with pg.expect_response(lambda r: "/api/decide" in r.url):
        pg.keyboard.press(key)
    pg.wait_for_function("document.body.dataset.pending === '0'")


def test_accept_reject_reload_shows_both_and_the_file_has_both(page):
    pg, src = page
    first = pg.inner_text("#issue-id")
    assert pg.inner_text("#progress-text") == "0 / 7 reviewed"
    assert pg.locator("#photos img").count() == 7
    assert "is applied" in pg.inner_text("#rerun")  # nothing decided, nothing pending
    press_and_wait(pg, "a")
    second = pg.inner_text("#issue-id")
    assert second != first
    press_and_wait(pg, "r")
    third = pg.inner_text("#issue-id")
    assert "next `dvc repro` reruns rebalance, train, predict, evaluate" in pg.inner_text("#rerun")

    pg.reload()
    pg.wait_for_selector("body[data-ready='1']")
    assert pg.inner_text("#progress-text") == "2 / 7 reviewed"
    assert pg.inner_text("#issue-id") == third  # the address kept the place
    # the decided items lead the queue in their order; the undecided follow, re-ranked
    pg.select_option("#f-status", "done")
    assert pg.inner_text("#issue-id") == first and pg.inner_text("#rank") == "1 of 2"
    assert pg.inner_text("#status").startswith("accepted: ")
    pg.keyboard.press("j")
    assert pg.inner_text("#issue-id") == second
    assert pg.inner_text("#status").startswith("rejected")
    pg.keyboard.press("ArrowLeft")
    assert pg.inner_text("#issue-id") == first

    rows = read_corrections(src.corrections)
    assert rows["decision"].tolist() == ["accept", "reject"]
    assert [f"{f}:{p}" for f, p in zip(rows["field"], rows["person_id"])] == [first, second]


def test_edit_undo_skip_and_originals(page):
    pg, src = page
    assert pg.locator("#photos img.original").count() == 0
    pg.keyboard.press("o")
    pg.wait_for_function("document.querySelectorAll('#photos img.original').length === 7 && "
                         "[...document.querySelectorAll('#photos img')].every(i => i.complete && i.naturalWidth > 0)",
                         timeout=10_000)  # crops and originals both load
    first = pg.inner_text("#issue-id")
    assert first.startswith("gender:")
    assert not pg.is_visible("#edit")
    pg.keyboard.press("e")
    assert pg.is_visible("#edit")
    press_and_wait(pg, "2")  # choices male, female: the second
    assert read_corrections(src.corrections)["value"].tolist() == ["female"]
    press_and_wait(pg, "u")
    assert read_corrections(src.corrections).empty and pg.inner_text("#issue-id") == first
    pg.keyboard.press("s")
    assert pg.inner_text("#issue-id") != first and read_corrections(src.corrections).empty
    pg.select_option("#f-field", "age")
    assert pg.inner_text("#issue-id").startswith("age:")
    pg.keyboard.press("e")
    pg.keyboard.press("y")
    pg.keyboard.type("57")
    assert pg.input_value("#years") == "57"
    press_and_wait(pg, "Enter")
    assert read_corrections(src.corrections)[["field", "value"]].values.tolist() == [["age", "57"]]
    assert not pg.is_visible("#edit")
    press_and_wait(pg, "r")  # keys decide again after typing years
    assert read_corrections(src.corrections)["decision"].tolist() == ["accept", "reject"]


@pytest.mark.parametrize("page", [(30, 60)], indirect=True)
def test_fifty_issues_with_the_keyboard_alone(page):
    pg, src = page
    total = int(pg.inner_text("#progress-text").split("/")[1].split()[0])
    assert total >= 50
    keys = ["a", "r", "a", "a", "r"] * 10
    start = time.perf_counter()
    for k in keys:
        pg.keyboard.press(k)
    # every decision answered by the server (the page counts those in flight)
    pg.wait_for_function("document.body.dataset.pending === '0' && "
                         "document.getElementById('progress-text').textContent.startsWith('50 /')")
    seconds = time.perf_counter() - start
    rows = read_corrections(src.corrections)
    assert rows["decision"].value_counts().to_dict() == {"accept": 30, "reject": 20}
    print(f"\n50 keyboard decisions written in {seconds:.2f} s")


def test_a_duplicate_is_judged_beside_the_other_person(browser, tmp_path):
    """A duplicate's card shows the other person's photos under the copy's; other cards do not."""
    import pandas as pd

    src = make_review_set(tmp_path, persons=8, issues_wanted=8)
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    issues = pd.read_csv(src.issues, dtype=str, keep_default_na=False)
    pd.concat([issues, pd.DataFrame([{
        "issue_id": "duplicate:000008", "person_id": "000008", "image_id": "*", "field": "duplicate",
        "given": "000008", "suggested": "000002", "score": "0.97", "kind": "duplicate"}])]).to_csv(src.issues, index=False)
    for base in serve(src):
        context = browser.new_context(viewport={"width": 1280, "height": 820})
        context.set_default_timeout(120_000)
        pg = context.new_page()
        pg.goto(base + "/#id=duplicate%3A000008")
        pg.wait_for_selector("body[data-ready='1']")
        assert pg.inner_text("#issue-id") == "duplicate:000008"
        assert pg.is_visible("#other") and pg.inner_text("#other-person").startswith("same person? 000002 · given")
        assert pg.locator("#photos figure").count() == pg.locator("#other-photos figure").count() == 7
        assert "000002" in pg.get_attribute("#other-photos img", "alt")
        rank, total = pg.inner_text("#rank").split(" of ")
        pg.keyboard.press("k" if rank == total else "j")  # a neighbouring card is a label issue: no other person
        assert pg.inner_text("#issue-id") != "duplicate:000008" and pg.is_hidden("#other")
        context.close()


def test_audit_items_a_fix_and_the_stats_panel_survive_a_reload(page):
    """Audit items added from the page show all photos and the given labels; `r` confirms one, a fix
    (e, KEY=VALUE) corrects another and a label item; the stats panel follows and a reload keeps all."""
    pg, src = page
    assert pg.inner_text("#stats tr[data-field='gender']").split("\t")[1] == "0 / 3"
    assert "add audits" in pg.inner_text("#audit-stats")
    pg.fill("#audit-n", "2")
    with pg.expect_response(lambda r: "/api/audit" in r.url):
        pg.click("#audit-add")
    pg.select_option("#f-field", "audit")
    assert pg.inner_text("#rank") == "1 of 2" and pg.inner_text("#issue-id").startswith("audit:")
    assert pg.locator("#photos img").count() == 7 and " · given " in pg.inner_text("#person")
    confirmed = pg.inner_text("#issue-id")
    press_and_wait(pg, "r")
    fixed = pg.inner_text("#issue-id")
    assert fixed != confirmed and fixed.startswith("audit:")
    given = pg.inner_text("#person").split("given ")[1].split(",")[0]
    other = "female" if given == "male" else "male"
    pg.keyboard.press("e")
    assert pg.evaluate("document.activeElement.id") == "fix"  # an audit has no choices: the fix is the edit
    pg.keyboard.type(f"gender={other}")
    assert pg.input_value("#fix") == f"gender={other}"  # the keys went to the field, none decided
    press_and_wait(pg, "Enter")
    rows = read_corrections(src.corrections)
    pid_c, pid_f = confirmed.split(":")[1], fixed.split(":")[1]
    assert rows[["person_id", "field", "value", "decision"]].values.tolist() == [
        [pid_c, "audit", "0", "reject"], [pid_f, "gender", other, "accept"], [pid_f, "audit", "1", "accept"]]
    pg.wait_for_function("document.getElementById('audit-stats').textContent.includes('1 wrong of 2 audited')")

    pg.select_option("#f-field", "gender")  # a fix on a label item: another label than its own
    gender_item = pg.inner_text("#issue-id")
    pg.keyboard.press("e")
    pg.keyboard.press("f")
    pg.keyboard.type("age=44")
    assert pg.input_value("#fix") == "age=44"
    press_and_wait(pg, "Enter")
    pid = gender_item.split(":")[1]
    mine = read_corrections(src.corrections).query("person_id == @pid")
    assert mine[["field", "value", "decision"]].values.tolist() == [["age", "44", "accept"], ["gender", mine["value"].iloc[1], "reject"]]
    pg.wait_for_function("document.querySelector(\"#stats tr[data-field='gender']\").textContent.includes('1 / 3')")
    assert "re-ranked by P(real) refitted on" in pg.inner_text("#rerank")

    pg.reload()
    pg.wait_for_selector("body[data-ready='1']")
    assert "1 wrong of 2 audited" in pg.inner_text("#audit-stats")
    assert pg.inner_text("#stats tr[data-field='gender']").split("\t")[1] == "1 / 3"
    pg.select_option("#f-field", "audit")
    pg.select_option("#f-status", "done")
    assert pg.inner_text("#rank").endswith("of 2")
    statuses = {pg.inner_text("#issue-id"): pg.inner_text("#status")}
    pg.keyboard.press("j")
    statuses[pg.inner_text("#issue-id")] = pg.inner_text("#status")
    assert statuses == {confirmed: "audited: all labels right", fixed: "audited: 1 field(s) wrong, fixed"}
