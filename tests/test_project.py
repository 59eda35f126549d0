"""project.yml: every dependency is one real path (confection can merge "${vars..}" list items)."""
from pathlib import Path

from weasel.util import load_project_config

from conftest import ROOT


def test_deps_are_existing_files_or_earlier_outputs():
    config = load_project_config(ROOT)
    produced = set()
    for name in config["workflows"]["all"]:
        command = next(c for c in config["commands"] if c["name"] == name)
        for dep in command.get("deps", []):
            assert "," not in dep, f"{name}: merged deps {dep!r}"
            assert dep in produced or (ROOT / dep).exists(), f"{name}: missing {dep}"
        produced.update(command.get("outputs", []))
    assert Path(ROOT / config["vars"]["taxonomy"]).exists()
