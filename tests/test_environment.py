"""The conda description, the pip metadata and the Makefile agree on what gets installed."""

import re
from pathlib import Path

import tomllib
import yaml  # PyYAML comes with jupyterlab

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def _pyproject_requirements() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"]) + [r for group in meta["optional-dependencies"].values() for r in group]
    return {_name(r): r.replace(" ", "") for r in reqs}


def _conda_pip_requirements() -> dict[str, str]:

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {_name(r): r.replace(" ", "") for r in pip_section if not r.startswith("-e")}


def test_environment_yml_lists_the_same_packages_as_pyproject():
    assert _conda_pip_requirements() == _pyproject_requirements()


def test_environment_yml_pins_python_311():

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]


def test_makefile_installs_the_torch_pair_and_d2l_without_deps():
    makefile = (ROOT / "Makefile").read_text()
    pins = _pyproject_requirements()
    assert pins["torch"] == "torch==2.14.1" and pins["torchvision"] == "torchvision==0.29.1"
    assert "torch==2.14.1 torchvision==0.29.1" in makefile
    assert "--no-deps d2l==1.0.3" in makefile
