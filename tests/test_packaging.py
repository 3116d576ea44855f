"""The setup files agree: pyproject.toml is the one source of dependencies, environment.yml installs
the same, the README's commands are the ones CI runs, and the README lists every notebook."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
# Python versions the specifiers are compared on (a range wide enough for years of releases)
PYTHONS = [Version(f"3.{minor}") for minor in range(6, 31)]


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def environment() -> dict:
    return yaml.safe_load((REPO / "environment.yml").read_text())


def conda_python_spec(spec: str) -> SpecifierSet:
    """``python>=3.10`` / ``python=3.11`` / ``python 3.11.*`` (conda match specs) as a SpecifierSet."""
    rest = re.sub(r"^python\s*", "", spec.strip())
    if not rest:
        return SpecifierSet()
    parts = []
    for part in rest.split(","):
        part = part.strip().replace(" ", "")
        if re.fullmatch(r"=?\d+(\.\d+)*(\.\*)?", part):  # conda's `=3.11` and bare `3.11` mean 3.11.*
            part = "==" + part.lstrip("=").removesuffix(".*") + ".*"
        parts.append(part)
    return SpecifierSet(",".join(parts))


def split_conda_deps(env: dict) -> tuple[list[str], list[str]]:
    conda, pip = [], []
    for dep in env.get("dependencies", []):
        if isinstance(dep, dict):
            assert set(dep) == {"pip"}, f"unexpected mapping in environment.yml dependencies: {dep}"
            pip.extend(dep["pip"])
        else:
            conda.append(str(dep))
    return conda, pip


def test_conda_env_installs_exactly_pyprojects_extras():
    env = environment()
    assert env["name"] == "dbdgcn"
    conda, pip = split_conda_deps(env)
    names = {re.split(r"[\s=<>!~]", dep, maxsplit=1)[0] for dep in conda}
    # everything else comes from pyproject through pip, so the two cannot list different packages
    assert names == {"python", "pip"}, (
        f"conda packages besides python and pip: {sorted(names - {'python', 'pip'})}"
    )
    assert len(pip) == 1, f"environment.yml must install the library alone through pip, got {pip}"
    args = shlex.split(pip[0])
    assert len(args) == 2 and args[0] in ("-e", "--editable"), f"not `-e .[extras]`: {pip[0]}"
    match = re.fullmatch(r"([^\[\]]+)(\[[^\]]*\])?", args[1])
    assert match, f"cannot read {args[1]!r}"
    assert match.group(1) in (".", "./"), f"environment.yml installs {match.group(1)!r}, not this checkout"
    installed = Requirement("dbdgcn-lib" + (match.group(2) or "")).extras
    extras = set(pyproject()["project"]["optional-dependencies"])
    assert installed == extras, (
        f"environment.yml installs extras {sorted(installed)}, pyproject has {sorted(extras)}"
    )


def test_conda_python_matches_requires_python():
    conda, _ = split_conda_deps(environment())
    pythons = [dep for dep in conda if re.match(r"python(\s|[=<>!~]|$)", dep)]
    assert len(pythons) == 1, f"environment.yml must pin python once, got {pythons}"
    conda_spec = conda_python_spec(pythons[0])
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    conda_ok = [v for v in PYTHONS if v in conda_spec]
    required_ok = [v for v in PYTHONS if v in requires]
    assert conda_ok, f"environment.yml allows no Python: {pythons[0]}"
    outside = [str(v) for v in conda_ok if v not in requires]
    assert not outside, f"environment.yml allows Python {outside}, which requires-python {requires} refuses"
    assert min(conda_ok) == min(required_ok), (
        f"environment.yml's oldest Python {min(conda_ok)} is not requires-python's {min(required_ok)}"
    )


def test_conda_python_spec_parser():
    assert Version("3.11.4") in conda_python_spec("python=3.11")
    assert Version("3.12.0") not in conda_python_spec("python=3.11")
    assert Version("3.10.0") in conda_python_spec("python>=3.10")
    assert Version("3.9.9") not in conda_python_spec("python >=3.10,<3.13")
    assert Version("3.13.0") not in conda_python_spec("python >=3.10,<3.13")


def ci_commands() -> list[str]:
    """The `make ...` commands `.ci/run` executes (comments and echo lines left out)."""
    commands = []
    for line in (REPO / ".ci" / "run").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if re.match(r"^(exec\s+)?make(\s|$)", line):
            commands.append(re.sub(r"^exec\s+", "", line))
    return commands


def readme_opening_commands() -> list[str]:
    """Commands in the README's first fenced code block (the two commands it opens with)."""
    text = (REPO / "README.md").read_text()
    match = re.search(r"```[a-z]*\n(.*?)```", text, re.S)
    assert match, "README.md has no code block"
    before = text[: match.start()]
    assert before.count("\n## ") == 0, "the README must open with the commands, before any section"
    return [
        line.split("#", 1)[0].strip() for line in match.group(1).splitlines() if line.split("#", 1)[0].strip()
    ]


def test_readme_opens_with_the_commands_ci_runs():
    ci = ci_commands()
    assert ci == ["make test"], f".ci/run runs {ci}; the README promises `make test`"
    opening = readme_opening_commands()
    assert "make lab" in opening, f"README's opening commands {opening} lack `make lab`"
    for command in ci:
        assert command in opening, f".ci/run runs `{command}`, which the README's opening block lacks"


def test_github_workflow_runs_ci_script():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    runs = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert any(run.strip() in (".ci/run", "bash .ci/run") for run in runs), f"workflow runs {runs}"


def test_readme_lists_every_notebook():
    readme = (REPO / "README.md").read_text()
    notebooks = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    missing = [name for name in notebooks if name not in readme]
    assert not missing, f"README.md does not list {missing}"


def test_notebooks_are_numbered_in_order():
    names = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    bad = [name for name in names if not re.match(r"^\d\d_[a-z0-9_]+\.ipynb$", name)]
    assert not bad, f"notebooks must be named NN_snake_case.ipynb: {bad}"
    numbers = [int(name[:2]) for name in names]
    assert len(numbers) == len(set(numbers)), f"two notebooks share a number: {names}"


@pytest.mark.parametrize("path", ["LICENSE", "README.md", "environment.yml", "Makefile", ".ci/run"])
def test_top_level_files_exist(path):
    assert (REPO / path).is_file(), f"{path} is missing"
