"""dvc.yaml's deps follow the imports: each stage names every pipeline file its script runs
(transitively, lazy imports included) and no pipeline code it does not run, so an edit reruns what
it changes and nothing else. Checked statically, from the source."""

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# Validation of params.yaml runs in the `check` stage, whose output every stage is downstream of;
# the stages run it again on start (pipeline.stage), but it cannot change what they write.
CHECKED_BY_CHECK = "pipeline.params"


def runs_code(path: Path) -> bool:
    """False for a package __init__ that holds only its docstring: it cannot change an output."""
    body = ast.parse(path.read_text()).body
    return not (path.name == "__init__.py" and all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
                                                   for n in body))


def _module_file(name: str, root: Path) -> Path | None:
    base = root.joinpath(*name.split("."))
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        if f.is_file():
            return f
    return None


def _packages(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imported_modules(path: Path, root: Path = REPO) -> set[str]:
    """The `pipeline` modules a file imports anywhere (top level or inside functions)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        out |= {n for n in names if n.split(".")[0] == "pipeline" and _module_file(n, root)}
    return out


def closure(script: Path, root: Path = REPO, stop: frozenset[str] = frozenset()) -> set[Path]:
    """Every pipeline file that running `script` can execute: its imports, theirs, and the
    packages' __init__ files on the way; modules in `stop` are not followed."""
    todo = list(imported_modules(script, root))
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in stop:
            continue
        todo += _packages(name)
        todo += imported_modules(_module_file(name, root), root)
    files = {_module_file(n, root) for n in seen - set(stop)}
    return {f.relative_to(root) for f in files if runs_code(f)}


def covered(deps: list[str], root: Path = REPO) -> set[Path]:
    """Pipeline .py files named by a stage's deps (a folder names every file under it)."""
    out: set[Path] = set()
    for d in deps:
        p = root / d
        if not d.startswith("pipeline"):
            continue
        if p.is_dir():
            out |= {f.relative_to(root) for f in p.rglob("*.py") if runs_code(f)}
        elif p.suffix == ".py":
            out.add(p.relative_to(root))
    return out


def stage_problems(dvc_yaml: Path, root: Path = REPO) -> list[str]:
    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    problems = []
    for name, stage in stages.items():
        script = root / stage["cmd"].split()[-1]
        deps = [str(d) for d in stage.get("deps", [])]
        stop = frozenset() if name == "check" else frozenset({CHECKED_BY_CHECK})
        runs, named = closure(script, root, stop) | {script.relative_to(root)}, covered(deps, root)
        runs_pipeline = {f for f in runs if f.parts[0] == "pipeline"}
        if script.relative_to(root).as_posix() not in deps:
            problems.append(f"{name}: deps lack its script {script.relative_to(root)}")
        for f in sorted(runs_pipeline - named):
            problems.append(f"{name}: runs {f} but its deps do not name it")
        for f in sorted(named - runs_pipeline):
            problems.append(f"{name}: deps name {f}, which it does not run")
        for d in deps:
            if d.startswith("pipeline") and not (root / d).exists():
                problems.append(f"{name}: dep {d} does not exist")
    return problems


def test_dvc_yaml_deps_follow_the_imports():
    problems = stage_problems(REPO / "dvc.yaml")
    assert not problems, "\n".join(problems)


def test_every_stage_is_downstream_of_check():
    """The params closure is left to `check`: that holds only if every stage waits for it."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    producer = {str(next(iter(o)) if isinstance(o, dict) else o): n
                for n, s in stages.items() for o in s.get("outs", [])}

    def upstream(name: str, seen: set[str]) -> set[str]:
        for d in stages[name].get("deps", []):
            for out, stage in producer.items():
                if (str(d) == out or str(d).startswith(out.rstrip("/") + "/")) and stage not in seen:
                    seen.add(stage)
                    upstream(stage, seen)
        return seen

    for name in stages:
        if name != "check":
            assert "check" in upstream(name, set()), f"{name} does not wait for check"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A tiny repo: a stage script importing one module that imports another lazily."""
    (tmp_path / "pipeline" / "pkg").mkdir(parents=True)
    (tmp_path / "stages").mkdir()
    (tmp_path / "pipeline" / "__init__.py").write_text("")
    (tmp_path / "pipeline" / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pipeline" / "pkg" / "a.py").write_text("def f():\n    from pipeline.pkg import b\n")
    (tmp_path / "pipeline" / "pkg" / "b.py").write_text("X = 1\n")
    (tmp_path / "pipeline" / "c.py").write_text("Y = 2\n")
    (tmp_path / "stages" / "s.py").write_text("from pipeline.pkg.a import f\n")
    return tmp_path


def _dvc(tree: Path, deps: list[str]) -> Path:
    path = tree / "dvc.yaml"
    path.write_text(yaml.safe_dump({"stages": {"s": {"cmd": "python stages/s.py", "deps": deps}}}))
    return path


def test_lazy_import_counts(tree):
    assert closure(tree / "stages" / "s.py", tree) == {Path("pipeline/pkg/a.py"), Path("pipeline/pkg/b.py")}


def test_a_new_import_without_its_dep_fails(tree):
    deps = ["stages/s.py", "pipeline/pkg"]
    assert stage_problems(_dvc(tree, deps), tree) == []
    (tree / "stages" / "s.py").write_text("from pipeline.pkg.a import f\nfrom pipeline import c\n")
    assert stage_problems(_dvc(tree, deps), tree) == ["s: runs pipeline/c.py but its deps do not name it"]


def test_a_dep_on_code_not_run_fails(tree):
    deps = ["stages/s.py", "pipeline"]  # the whole library: c.py is not run
    assert stage_problems(_dvc(tree, deps), tree) == ["s: deps name pipeline/c.py, which it does not run"]
