"""project.yml: every dependency is one real path (confection can merge "${vars..}" list items)."""
import re
import shlex
from pathlib import Path

from confection import Config
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


FILE_ARGUMENT = re.compile(r"^[\w.-]+(/[\w.${}-]+)+\.(spacy|jsonl|json|cfg|yml|py|csv|txt|whl|onnx|safetensors|jinja|gz|parquet)$")


def _file_arguments(script: str, root: Path) -> set:
    """The files a script line names (also as NAME=FILE), and those the [paths] of its configs name."""
    tokens = [t.split("=", 1)[-1] for t in shlex.split(script) if not t.startswith("-") or "=" in t]
    files = {t for t in tokens if FILE_ARGUMENT.match(t)}
    overridden = {t[len("--paths."):].split("=")[0] for t in shlex.split(script) if t.startswith("--paths.")}
    for config in [f for f in files if f.endswith(".cfg")]:
        paths = Config().from_disk(root / config, interpolate=False).get("paths", {})
        files |= {v for k, v in paths.items() if k not in overridden and isinstance(v, str) and (root / v).is_file()}
    return files


def test_every_file_a_command_reads_or_writes_is_a_dep_or_an_output():
    """Otherwise weasel skips a step whose inputs changed, or misses an output it made."""
    config = load_project_config(ROOT)
    for command in config["commands"]:
        listed = set(command.get("deps", [])) | set(command.get("outputs", [])) | set(command.get("outputs_no_cache", []))
        for line in command["script"]:
            missing = _file_arguments(line, ROOT) - listed
            assert not missing, f"{command['name']}: {sorted(missing)} not in its deps or outputs"
        if any(line.startswith("python -m build") for line in command["script"]):
            library = {str(f.relative_to(ROOT)) for f in (ROOT / "components/ad_signs").rglob("*")
                       if f.is_file() and "__pycache__" not in f.parts}
            assert not ({"pyproject.toml"} | library) - listed, f"{command['name']}: the library wheel is built from files not in deps"
            assert any(o.startswith("packages/ad_signs-") and o.endswith(".whl") for o in command["outputs"])
