"""The pinned requirements and the conda environment list the same packages at the same versions."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def read_requirements():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def read_conda_pip_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [dep["pip"] for dep in env["dependencies"] if isinstance(dep, dict) and "pip" in dep]
    pins = {}
    for line in pip_lists[0]:
        if "==" in line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def test_requirements_are_exact_pins_including_torch():
    pins = read_requirements()
    assert pins["torch"] == "2.14.1"
    assert pins["torchvision"] == "0.29.1"


def test_conda_environment_matches_requirements():
    assert read_conda_pip_pins() == read_requirements()
