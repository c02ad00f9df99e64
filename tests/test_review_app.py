"""HTTP-level tests of the review server on a small review set: decisions land in the corrections
file through the one writer, bad requests get a 4xx with a message and leave the file alone."""

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pipeline.curation.corrections import read_corrections
from pipeline.review.app import create_app
from review_data import make_review_set

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def review(tmp_path):
    src = make_review_set(tmp_path, persons=8, issues_wanted=8)
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    return src, TestClient(create_app(src))


def test_state_groups_a_swap_pair_into_one_item(review):
    src, client = review
    state = client.get("/api/state").json()
    items = state["items"]
    # 8 issue rows: gender and age of 3 persons and one swap pair, which is one decision
    assert len(items) == 7 and state["progress"] == {"reviewed": 0, "total": 7}
    swap = next(it for it in items if it["swap"])
    assert len(swap["ids"]) == 2 and swap["choices"] == ["swap_incorrect_normal"]
    assert [it["score"] for it in items] == sorted((it["score"] for it in items), reverse=True)
    person = state["persons"][items[0]["person_id"]]
    assert len(person["images"]) == 7 and person["images"][0]["stem"] == "mask1"
    assert state["rerun"]["stages"] == ["rebalance", "train", "predict", "evaluate"]


def test_accept_reject_edit_clear_write_the_corrections_file(review):
    src, client = review
    items = client.get("/api/state").json()["items"]
    gender = next(it for it in items if it["field"] == "gender")
    age = next(it for it in items if it["field"] == "age")
    swap = next(it for it in items if it["swap"])
    r = client.post("/api/decide", json={"id": gender["id"], "decision": "accept"})
    assert r.status_code == 200 and r.json()["previous"] is None
    assert r.json()["rerun"]["pending"] and "reruns rebalance" in r.json()["rerun"]["message"]
    client.post("/api/decide", json={"id": age["id"], "decision": "accept", "value": "44"})  # edit: years
    client.post("/api/decide", json={"id": swap["ids"][1], "decision": "reject"})  # either id of the pair
    rows = read_corrections(src.corrections).set_index("person_id")
    assert rows.loc[gender["person_id"]].query("field == 'gender'")[["value", "decision", "source"]].values.tolist() \
        == [[gender["suggested"], "accept", "test"]]
    assert rows.loc[age["person_id"]].query("field == 'age'")["value"].tolist() == ["44"]
    assert ((rows["value"] == "swap_incorrect_normal") & (rows["decision"] == "reject")).sum() == 1
    r = client.post("/api/decide", json={"id": gender["id"], "decision": "reject"})
    assert r.json()["previous"]["decision"] == "accept"  # what undo puts back
    r = client.post("/api/decide", json={"id": gender["id"], "decision": "clear"})
    assert r.json()["decision"] is None and r.json()["progress"]["reviewed"] == 2
    assert len(read_corrections(src.corrections)) == 2
    assert client.get("/api/state").json()["progress"]["reviewed"] == 2  # survives a reload


@pytest.mark.parametrize("body, status, message", [
    ({"id": "gender:nobody", "decision": "accept"}, 404, "unknown issue id"),
    ({"id": "GENDER", "decision": "accept", "value": "female"}, 404, "unknown issue id"),
    ({"id": "FIRST_GENDER", "decision": "accept", "value": "robot"}, 400, "gender must be one of"),
    ({"id": "FIRST_AGE", "decision": "accept", "value": "200"}, 400, "age must be years"),
    ({"id": "FIRST_SWAP", "decision": "accept", "value": "wear"}, 400, "mask must be one of"),
    ({"id": "FIRST_GENDER", "decision": "maybe"}, 422, "accept"),
    ({"id": "FIRST_GENDER", "decision": "clear", "value": "male"}, 400, "takes no value"),
    ({"decision": "accept"}, 422, "id"),
])
def test_bad_requests_get_a_4xx_with_a_message_and_never_change_the_file(review, body, status, message):
    src, client = review
    items = client.get("/api/state").json()["items"]
    first = {"FIRST_GENDER": next(it for it in items if it["field"] == "gender")["id"],
             "FIRST_AGE": next(it for it in items if it["field"] == "age")["id"],
             "FIRST_SWAP": next(it for it in items if it["swap"])["id"]}
    client.post("/api/decide", json={"id": first["FIRST_AGE"], "decision": "reject"})
    before = src.corrections.read_bytes()
    body = {k: first.get(v, v) for k, v in body.items()}
    r = client.post("/api/decide", json=body)
    assert r.status_code == status and message in r.text
    assert src.corrections.read_bytes() == before
    bad = client.post("/api/decide", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 422 and src.corrections.read_bytes() == before


def test_images_are_served_only_for_known_ids(review):
    src, client = review
    image_id = pd.read_parquet(src.manifest)["image_id"].iloc[0]
    crop = client.get("/api/image", params={"id": image_id})
    assert crop.status_code == 200 and crop.content.startswith(b"\x89PNG")
    original = client.get("/api/image", params={"id": image_id, "kind": "original"})
    assert original.status_code == 200 and original.headers["content-type"] == "image/png"
    for params in ({"id": "nobody/mask1"}, {"id": "../../../etc/passwd", "kind": "original"},
                   {"id": str(src.issues), "kind": "original"}):
        r = client.get("/api/image", params=params)
        assert r.status_code == 404 and "no " in r.json()["detail"]
    assert client.get("/api/image", params={"id": image_id, "kind": "raw"}).status_code == 422


def test_page_and_assets_are_local(review):
    _, client = review
    page = client.get("/").text
    assets = [a for a in re.findall(r"""(?:src|href)="([^"]+)\"""", page) if not a.startswith("data:")]
    assert assets and all(a.startswith("/static/") for a in assets)
    for a in assets:
        body = client.get(a)
        assert body.status_code == 200
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", body.text)  # no CDN, no web fonts
    assert client.get("/static/../app.py").status_code == 404


def test_cli_serve_binds_to_loopback_and_answers(tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    src = make_review_set(tmp_path, persons=4, issues_wanted=4)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    curate = Path(sys.executable).parent / "curate"
    proc = subprocess.Popen([str(curate), "inspect-noise", "--serve", "--port", str(port), "--issues", str(src.issues),
                             "--labels", str(src.labels), "--crops", str(src.crops), "--manifest", str(src.manifest),
                             "--corrections", str(src.corrections)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 120  # imports are slow on a busy 2-core machine
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                state = httpx.get(f"http://127.0.0.1:{port}/api/state", timeout=2).json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.2)
        assert state["progress"]["total"] == len(state["items"]) > 0
        # the listening socket's local address, from the kernel's table (LISTEN = 0A)
        table = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
        bound = {row[1].split(":")[0] for row in table if row[3] == "0A" and int(row[1].split(":")[1], 16) == port}
        assert bound == {"0100007F"}  # 127.0.0.1 only
    finally:
        proc.terminate()
        proc.wait(10)


def test_issue_types_are_review_items_decided_through_the_one_writer(review):
    src, _ = review
    issues = pd.read_csv(src.issues, dtype=str, keep_default_na=False)
    labels = pd.read_parquet(src.labels)
    image = labels["image_id"].iloc[3]
    extra = pd.DataFrame([
        {"issue_id": "duplicate:000008", "person_id": "000008", "image_id": "*", "field": "duplicate",
         "given": "000008", "suggested": "000002", "score": "0.97", "kind": "duplicate"},
        {"issue_id": f"quality:{image}", "person_id": labels["person_id"].iloc[3], "image_id": image,
         "field": "quality", "given": "keep", "suggested": "exclude", "score": "0.93", "kind": "dark"},
    ])
    pd.concat([issues, extra]).to_csv(src.issues, index=False)
    client = TestClient(create_app(src))
    state = client.get("/api/state").json()
    items = {it["field"]: it for it in state["items"]}
    assert items["duplicate"]["choices"] == ["000002", "exclude"] and items["quality"]["choices"] == ["exclude"]
    assert len(state["persons"]["000002"]["images"]) == 7  # the other person, shown beside the copy
    assert client.post("/api/decide", json={"id": "duplicate:000008", "decision": "accept"}).status_code == 200
    assert client.post("/api/decide", json={"id": f"quality:{image}", "decision": "reject"}).status_code == 200
    r = client.post("/api/decide", json={"id": f"quality:{image}", "decision": "accept", "value": "dark"})
    assert r.status_code == 400 and "exclude" in r.json()["detail"]
    rows = read_corrections(src.corrections).set_index("field")
    assert rows.loc["duplicate", ["person_id", "value", "decision"]].tolist() == ["000008", "000002", "accept"]
    assert rows.loc["quality", ["value", "decision"]].tolist() == ["exclude", "reject"]


def test_audits_fixes_and_stats_through_the_api(review):
    src, client = review
    state = client.get("/api/state").json()
    assert state["stats"]["label"]["gender"]["items"] == 3 and state["audit_n"] == 0
    state = client.post("/api/audit", json={"n": 3}).json()
    audits = [it for it in state["items"] if it["field"] == "audit"]
    # 8 persons, 3 flagged for gender/age: 3 of the other 5 drawn, after the label fixes
    assert len(audits) == 3 and state["progress"]["total"] == 10 and state["items"][-1]["field"] == "audit"
    assert all(it["score"] is None and it["choices"] == [] for it in audits)
    assert client.post("/api/audit", json={"n": -1}).status_code == 422
    r = client.post("/api/decide", json={"id": audits[0]["id"], "decision": "accept"})
    assert r.status_code == 400 and "audit" in r.json()["detail"]
    assert client.post("/api/decide", json={"id": audits[0]["id"], "decision": "reject"}).status_code == 200
    r = client.post("/api/decide", json={"id": audits[1]["id"], "decision": "fix", "value": "age=77 mask1=normal"})
    assert r.status_code == 200 and r.json()["decision"]["value"] == "2"
    assert r.json()["stats"]["audit"]["errors_found"] == 1 and r.json()["stats"]["audit"]["persons"] == 2
    bad = client.post("/api/decide", json={"id": audits[2]["id"], "decision": "fix", "value": "nose=big"})
    assert bad.status_code == 400 and "photo stem" in bad.json()["detail"]
    gender = next(it for it in state["items"] if it["field"] == "gender")
    r = client.post("/api/decide", json={"id": gender["id"], "decision": "reject"}).json()
    # the decided items lead the queue, label fixes before audits
    assert r["order"][0] == gender["id"] and set(r["order"][1:3]) == {audits[0]["id"], audits[1]["id"]}
    assert client.get("/api/stats").json()["label"]["gender"]["decided"] == 1
    # undoing an audit takes the labels it fixed with it
    client.post("/api/decide", json={"id": audits[1]["id"], "decision": "clear"})
    assert audits[1]["person_id"] not in set(read_corrections(src.corrections)["person_id"])
