import io
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline import labels as L
from pipeline.cli import app
from pipeline.curation.corrections import apply_corrections, read_corrections

EDGES = (30, 60)
PERSONS = {"000001": (0, 45), "000002": (1, 22), "000003": (0, 61)}
runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    rows = [{"image_id": f"{pid}_{L.GENDERS[g]}_Asian_{age}/{stem}", "person_id": pid, "mask": mask, "gender": g,
             "age": age, "split": "train"}
            for pid, (g, age) in PERSONS.items() for stem, mask in L.MASK_FILES.items()]
    labels = pd.DataFrame(rows)
    labels["age_bin"] = L.age_bin(labels["age"].to_numpy(), EDGES)
    labels["label"] = L.encode(labels["mask"], labels["gender"], labels["age_bin"])
    swap_inc, swap_norm = "000002_female_Asian_22/incorrect_mask", "000002_female_Asian_22/normal"
    issues = pd.DataFrame([
        ("mask:" + swap_inc, "000002", swap_inc, "mask", "incorrect", "normal", 0.99, "swap"),
        ("mask:" + swap_norm, "000002", swap_norm, "mask", "normal", "incorrect", 0.99, "swap"),
        ("gender:000001", "000001", "*", "gender", "male", "female", 0.95, "gender"),
        ("age:000003", "000003", "*", "age", ">=60", "30-59", 0.70, "age"),
    ], columns=["issue_id", "person_id", "image_id", "field", "given", "suggested", "score", "kind"])
    paths = {name: tmp_path / name for name in ("issues.csv", "labels.parquet", "crops.npy", "manifest.parquet",
                                                 "corrections.csv", "params.yaml")}
    issues.to_csv(paths["issues.csv"], index=False)
    labels.to_parquet(paths["labels.parquet"])
    labels[["image_id", "person_id", "split"]].to_parquet(paths["manifest.parquet"])
    np.save(paths["crops.npy"], np.full((len(labels), 8, 8, 3), 128, np.uint8))
    paths["params.yaml"].write_text("relabel:\n  age_edges: [30, 60]\n")
    return paths, labels


def invoke(paths, *args):
    opts = ["--issues", paths["issues.csv"], "--labels", paths["labels.parquet"], "--crops", paths["crops.npy"],
            "--manifest", paths["manifest.parquet"], "--corrections", paths["corrections.csv"],
            "--params", paths["params.yaml"]]
    return runner.invoke(app, ["inspect-noise", *map(str, opts), *map(str, args)], env={"COLUMNS": "200"})


def test_missing_issues_file_says_run_dvc_repro(tmp_path):
    result = runner.invoke(app, ["inspect-noise", "--issues", str(tmp_path / "none.csv")])
    assert result.exit_code != 0
    assert "dvc repro noise" in result.output


def test_csv_columns_exact_and_ranked(files):
    paths, _ = files
    result = invoke(paths, "--format", "csv")
    assert result.exit_code == 0, result.output
    df = pd.read_csv(io.StringIO(result.stdout), dtype=str)
    assert list(df.columns) == ["person_id", "image_id", "field", "given", "suggested", "score", "issue_id"]
    assert df["person_id"].tolist() == ["000002", "000002", "000001", "000003"]
    assert df["image_id"].tolist()[2:] == ["*", "*"]
    assert df["issue_id"].tolist()[2:] == ["gender:000001", "age:000003"]


def test_extra_columns_of_the_issue_list_are_kept_and_shown(files):
    paths, _ = files
    issues = pd.read_csv(paths["issues.csv"], dtype=str)
    issues.loc[issues["field"] == "age", "suggested"] = "30-59 (est. 34.2 y)"
    issues.assign(estimate=["", "", "", "34.2"]).to_csv(paths["issues.csv"], index=False)
    df = pd.read_csv(io.StringIO(invoke(paths, "--format", "csv").stdout), dtype=str, keep_default_na=False)
    assert list(df.columns[:7]) == ["person_id", "image_id", "field", "given", "suggested", "score", "issue_id"]
    assert "estimate" in df.columns[7:] and df["estimate"].tolist()[-1] == "34.2"
    table = invoke(paths).stdout
    assert "estimate" in table and "34.2" in table
    assert invoke(paths, "--accept", "age:000003").exit_code == 0
    assert read_corrections(paths["corrections.csv"])["value"].tolist() == ["30-59"]  # the note is not a label


def test_top_and_json(files):
    paths, _ = files
    out = invoke(paths, "--format", "json", "--top", "1").stdout
    records = json.loads(out)
    assert [r["kind"] for r in records] == ["swap", "swap"]  # the pair stays whole
    assert {"issue_id", "score", "given", "suggested"} <= set(records[0])
    assert "mask:000002_female_Asian_22/incorrect_mask" in out and "\\/" not in out  # ids greppable as-is


def test_table_shows_issue_ids(files):
    paths, _ = files
    result = invoke(paths)
    assert result.exit_code == 0, result.output
    assert "gender:000001" in result.stdout and "female" in result.stdout
    assert ">=60 (61 y)" in result.stdout  # age rows show the given age in years


@pytest.mark.parametrize("width", ["60", "100"])
def test_table_never_breaks_an_issue_id(files, width):
    paths, _ = files
    opts = ["--issues", paths["issues.csv"], "--labels", paths["labels.parquet"], "--corrections",
            paths["corrections.csv"]]
    out = runner.invoke(app, ["inspect-noise", *map(str, opts)], env={"COLUMNS": width}).stdout
    for issue_id in ("mask:000002_female_Asian_22/incorrect_mask", "mask:000002_female_Asian_22/normal"):
        assert issue_id in out, out


def test_narrow_terminal_gets_a_list_with_nothing_cut(files):
    paths, _ = files
    opts = ["--issues", paths["issues.csv"], "--labels", paths["labels.parquet"], "--corrections",
            paths["corrections.csv"]]
    narrow = runner.invoke(app, ["inspect-noise", *map(str, opts)], env={"COLUMNS": "60"}).stdout
    wide = runner.invoke(app, ["inspect-noise", *map(str, opts)], env={"COLUMNS": "200"}).stdout
    assert "…" not in narrow and "┃" not in narrow and "┃" in wide  # a list there, a table here
    lines = narrow.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip().startswith("1 "))
    assert "0.990" in lines[first] and "incorrect -> normal" in lines[first]
    assert lines[first + 1].strip() == "mask:000002_female_Asian_22/incorrect_mask"
    assert ">=60 (61 y) -> 30-59" in narrow


def test_accept_then_apply_changes_exactly_that_label(files):
    paths, labels = files
    result = invoke(paths, "--accept", "gender:000001")
    assert result.exit_code == 0, result.output
    assert "reruns" in result.output  # what the next dvc repro costs (tests/test_review_rerun.py)
    corrections = read_corrections(paths["corrections.csv"])
    assert corrections[["person_id", "image_id", "field", "value", "decision"]].values.tolist() == \
        [["000001", "*", "gender", "female", "accept"]]
    out, unmatched = apply_corrections(labels, corrections, age_edges=EDGES)
    assert unmatched.empty
    changed = out["label"] != labels["label"]
    assert changed.tolist() == (labels["person_id"] == "000001").tolist()
    assert (out.loc[changed, "gender"] == 1).all()
    # decided issues are hidden, --all shows them again
    shown = pd.read_csv(io.StringIO(invoke(paths, "--format", "csv").stdout), dtype=str)
    assert "000001" not in set(shown["person_id"])
    shown = pd.read_csv(io.StringIO(invoke(paths, "--format", "csv", "--all").stdout), dtype=str)
    assert "000001" in set(shown["person_id"])


def test_accept_swap_and_reject_hide_and_leave_labels(files):
    paths, labels = files
    result = invoke(paths, "--accept", "mask:000002_female_Asian_22/normal", "--reject", "age:000003")
    assert result.exit_code == 0, result.output
    corrections = read_corrections(paths["corrections.csv"])
    assert corrections[["person_id", "image_id", "value", "decision"]].values.tolist() == \
        [["000002", "*", "swap_incorrect_normal", "accept"], ["000003", "*", "30-59", "reject"]]
    shown = pd.read_csv(io.StringIO(invoke(paths, "--format", "csv").stdout), dtype=str)
    assert shown["person_id"].tolist() == ["000001"]
    out, _ = apply_corrections(labels, corrections, age_edges=EDGES)
    assert (out["age"] == labels["age"]).all()
    assert (out["label"] != labels["label"]).sum() == 2


def test_unknown_issue_id_fails_without_writing(files):
    paths, _ = files
    result = invoke(paths, "--accept", "gender:nobody")
    assert result.exit_code == 2
    assert not paths["corrections.csv"].exists()


def test_compare_with_public_list(files, tmp_path):
    paths, _ = files
    known = tmp_path / "known.csv"
    pd.DataFrame({"person_id": ["000001", "000002", "000003", "000009"], "field": ["gender", "mask", "age", "gender"],
                  "fix": ["female", "swap_incorrect_normal", "59", "male"], "source": "s"}).to_csv(known, index=False)
    result = invoke(paths, "--compare", known, "--format", "csv")
    df = pd.read_csv(io.StringIO(result.stdout), dtype=str)
    assert df["flagged"].tolist() == ["True", "True", "True", "False"]
    assert df["agrees"].tolist() == ["True", "True", "True", "False"]
    assert "3 of 4 flagged" in invoke(paths, "--compare", known).stdout


def test_html_gallery(files, tmp_path):
    paths, _ = files
    out = tmp_path / "gallery.html"
    result = invoke(paths, "--html", out, "--top", "2")  # two items: the swap pair and the gender flag
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 14 and "http" not in page
    assert "curate inspect-noise --accept gender:000001" in page
    assert "curate inspect-noise --reject gender:000001" in page


def _add_issues(paths, rows: list[tuple], *, first: bool = False) -> None:
    """Rows (issue_id .. kind) added to the fixture's issues.csv, after its rows or before them."""
    issues = pd.read_csv(paths["issues.csv"], dtype=str)
    extra = pd.DataFrame(rows, columns=issues.columns)
    pd.concat([extra, issues] if first else [issues, extra]).to_csv(paths["issues.csv"], index=False)


def _with_issue_types(paths) -> None:
    _add_issues(paths, [
        ("duplicate:000003", "000003", "*", "duplicate", "000003", "000001", 0.98, "duplicate"),
        ("quality:000001_male_Asian_45/mask2", "000001", "000001_male_Asian_45/mask2", "quality", "keep", "exclude",
         0.90, "dark"),
    ])


def test_field_filters_and_issue_types_keep_the_contract_columns(files):
    paths, labels = files
    _with_issue_types(paths)
    out = invoke(paths, "--format", "csv", "--top", "0", "--field", "duplicate,quality")
    assert out.exit_code == 0, out.output
    rows = pd.read_csv(io.StringIO(out.stdout), dtype=str)
    assert list(rows.columns[:7]) == ["person_id", "image_id", "field", "given", "suggested", "score", "issue_id"]
    assert rows["field"].tolist() == ["duplicate", "quality"]
    assert rows["suggested"].tolist() == ["000001", "exclude"] and rows["image_id"].iloc[0] == "*"
    assert invoke(paths, "--field", "blur").exit_code == 2
    html = paths["issues.csv"].parent / "types.html"
    out = invoke(paths, "--field", "duplicate,quality", "--html", html)
    assert out.exit_code == 0, out.output
    page = html.read_text()
    assert "duplicate:000003" in page and "quality:000001_male_Asian_45/mask2" in page and "gender:" not in page


def test_accept_a_duplicate_and_a_quality_issue_through_the_one_writer(files):
    paths, labels = files
    _with_issue_types(paths)
    out = invoke(paths, "--accept", "duplicate:000003,quality:000001_male_Asian_45/mask2")
    assert out.exit_code == 0, out.output
    rows = read_corrections(paths["corrections.csv"])
    assert sorted(rows["field"]) == ["duplicate", "quality"]
    fixed, _ = apply_corrections(labels, rows, age_edges=EDGES)
    assert (fixed.loc[labels["person_id"] == "000003", "person_id"] == "000001").all()
    assert fixed["excluded"].sum() == 1


def _with_photo_issues_and_a_note(paths) -> None:
    _add_issues(paths, [  # as the noise stage writes them: the photo issues first, at score 1.0
        ("quality:000001_male_Asian_45/mask2", "000001", "000001_male_Asian_45/mask2", "quality", "keep", "exclude",
         1.0, "dark"),
        ("outlier:000003_male_Asian_61/mask1", "000003", "000003_male_Asian_61/mask1", "outlier", "keep", "exclude",
         1.0, "outlier"),
        ("quality:000003_male_Asian_61/mask4", "000003", "000003_male_Asian_61/mask4", "quality", "keep", "exclude",
         0.0, "fallback"),
    ], first=True)


def test_the_first_screen_shows_label_fixes_and_counts_items_once(files):
    paths, _ = files
    _with_photo_issues_and_a_note(paths)
    out = invoke(paths, "--format", "csv", "--top", "0")
    rows = pd.read_csv(io.StringIO(out.stdout), dtype=str)
    assert rows["field"].tolist() == ["mask", "mask", "gender", "age", "outlier", "quality"]  # the note is no item
    table = invoke(paths, "--top", "3").stdout
    assert "3 shown of 5 items, label fixes first" in table and "1 detector notes aside" in table
    assert "quality:" not in table and "outlier:" not in table
    notes = json.loads(invoke(paths, "--notes", "--format", "json").stdout)
    assert [n["kind"] for n in notes] == ["fallback"]
    photos = pd.read_csv(io.StringIO(invoke(paths, "--format", "csv", "--field", "photos").stdout))
    assert photos["field"].tolist() == ["outlier", "quality"]


def test_audit_items_are_listed_confirmed_and_fixed(files):
    paths, labels = files
    # 000001-000003 are all flagged in the fixture: two more persons, unflagged
    extra = labels[labels["person_id"] == "000001"].assign(
        person_id="000004", image_id=lambda d: d["image_id"].str.replace("000001", "000004"))
    more = extra.assign(person_id="000005", image_id=lambda d: d["image_id"].str.replace("000004", "000005"), gender=1)
    pd.concat([labels, extra, more]).to_parquet(paths["labels.parquet"])
    out = invoke(paths, "--audit", "5", "--format", "csv", "--field", "audit")
    rows = pd.read_csv(io.StringIO(out.stdout), dtype=str, keep_default_na=False)
    assert sorted(rows["issue_id"]) == ["audit:000004", "audit:000005"] and set(rows["image_id"]) == {"*"}
    assert invoke(paths, "--accept", "audit:000004").exit_code == 2  # an audit: --reject or --fix
    assert invoke(paths, "--reject", "audit:000004").exit_code == 0
    result = invoke(paths, "--fix", "audit:000005", "age=33", "--fix", "audit:000005", "mask2=normal")
    assert result.exit_code == 0, result.output
    c = read_corrections(paths["corrections.csv"])
    assert c[["person_id", "image_id", "field", "value", "decision"]].values.tolist() == [
        ["000004", "*", "audit", "0", "reject"], ["000005", "*", "age", "33", "accept"],
        ["000005", "000005_male_Asian_45/mask2", "mask", "normal", "accept"], ["000005", "*", "audit", "2", "accept"]]
    stats = json.loads(invoke(paths, "--stats", "--format", "json").stdout)
    assert {k: stats["audit"][k] for k in ("population", "persons", "errors_found")} == \
        {"population": 2, "persons": 2, "errors_found": 1}
    assert stats["audit"]["expected_missed_errors"] == 1.0  # both unflagged persons audited: nothing left
    assert invoke(paths, "--audit", "5", "--field", "audit", "--format", "csv").stdout.strip() == \
        "person_id,image_id,field,given,suggested,score,issue_id"  # both decided: hidden


def test_fix_decides_an_item_with_the_label_chosen(files):
    paths, labels = files
    assert invoke(paths, "--fix", "age:000003", "age=40").exit_code == 0
    assert invoke(paths, "--fix", "gender:000001", "gender=male").exit_code == 0  # the given label: right
    c = read_corrections(paths["corrections.csv"])
    assert c[["person_id", "field", "value", "decision"]].values.tolist() == [
        ["000003", "age", "40", "accept"], ["000001", "gender", "male", "reject"]]
    out, _ = apply_corrections(labels, c, age_edges=EDGES)
    assert (out.loc[out["person_id"] == "000003", "age"] == 40).all() and (out["gender"] == labels["gender"]).all()
    stats = json.loads(invoke(paths, "--stats", "--format", "json").stdout)
    assert set(stats) >= {"label", "audit"} and set(stats["label"]) == {"gender", "age", "mask", "duplicate",
                                                                         "outlier", "quality"}
    keys = {"decided", "accepted", "precision", "precision_interval", "undecided", "expected_errors_undecided",
            "expected_errors_undecided_interval"}
    assert all(keys <= set(s) for s in stats["label"].values())
    assert {k: stats["label"]["age"][k] for k in ("decided", "accepted", "precision")} == \
        {"decided": 1, "accepted": 1, "precision": 1.0}
    assert stats["label"]["gender"]["precision"] == 0.0
    assert {"persons", "errors_found", "expected_missed_errors", "expected_missed_errors_interval"} <= set(stats["audit"])
    assert "precision" in invoke(paths, "--stats").stdout


@pytest.mark.parametrize("args, message", [
    (["--fix", "gender:000001"], "each --fix takes ID KEY=VALUE"),
    (["--fix", "gender:000001", "sex=female"], "photo stem"),
    (["--fix", "gender:000001", "gender=robot"], "gender must be one of"),
    (["--fix", "gender:000001", "mask9=wear"], "photo stem"),
])
def test_a_bad_fix_is_refused_without_writing(files, args, message):
    paths, _ = files
    result = invoke(paths, *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not paths["corrections.csv"].exists()


def test_an_unknown_id_names_the_format_and_the_closest_ids(files):
    paths, _ = files
    result = invoke(paths, "--accept", "gender:00001")
    assert result.exit_code == 2
    assert "closest: gender:000001" in result.output and "<field>:<person_id>" in result.output
    assert "<field>:<image_id>" in invoke(paths, "--accept", "not_an_id").output


@pytest.mark.parametrize("args", [[], ["--reject", "age:000003"], ["--serve"], ["--stats"]])
def test_a_broken_corrections_line_is_refused_with_file_and_line_before_anything(files, args):
    paths, _ = files
    paths["corrections.csv"].write_text("person_id,image_id,field,value,decision,source\n"
                                        "000001,*,gender,female,accept,me\n000124,*,age,,,\n")
    before = paths["corrections.csv"].read_bytes()
    result = invoke(paths, *args)
    assert result.exit_code == 2 and f"{paths['corrections.csv']}:3: decision ''" in result.output.replace("\n", "")
    assert paths["corrections.csv"].read_bytes() == before
