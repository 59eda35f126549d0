"""`weasel run all` end to end at the CI scale, on the real local LLM, in a copy of the project:
raw inputs -> silver and bronze -> the experiment and its report -> the installable wheel;
then a second run skips everything that is up to date. And `weasel run published`: the pipelines
rebuilt and packaged from the published silver and bronze with the LLM stack unimportable."""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional

import pytest
import srsly

from ad_signs.readers import read_docs
from conftest import ROOT

# The CI scale (README: "Running at a small scale"): every step runs, on less data.
CI_SCALE = {
    "silver_sentences": "40",
    "bronze_per_label": "5",
    "bronze_negatives_per_label": "0",
    "seeds": "1",
    "amounts": "50",
    "max_epochs": "5",
    "llm_eval_sentences": "30",
    "bench_sentences": "2000",
    "bench_trf_sentences": "300",
    "bench_llm_sentences": "4",
    "bench_no_reuse_sentences": "1",
    "bench_generation_prompts": "2",
    "bench_generation_baseline_prompts": "1",
    "bench_progression_rows": "20000",
    "bench_progression_patients": "2000",
}
PROJECT_FILES = ["project.yml", "pyproject.toml", "README.md", "LICENSE", "assets", "configs", "components", "scripts", "benchmarks"]

PUBLISHED = {
    "silver_train": "assets/silver/silver-v2.spacy",
    "silver_summary": "assets/silver/silver-v2.summary.json",
    "bronze_train": "assets/bronze/bronze-v3.spacy",
    "bronze_summary": "assets/bronze/bronze-v3.summary.json",
}

# A test double of an environment without the LLM stack, as `sitecustomize` of every process of the
# run: spacy-llm and llama-cpp-python fail to import, and spacy-llm's entry points are not there.
WITHOUT_LLM_STACK = """
import importlib.abc, importlib.metadata, sys

BLOCKED = ("spacy_llm", "llama_cpp")


class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed here: the published workflow needs no LLM")


def entry_points(_all=importlib.metadata.entry_points, **params):
    found = _all(**params)
    if isinstance(found, dict):  # Python < 3.12, called without arguments: the entry points by group
        found = [e for group in found.values() for e in group]
    return importlib.metadata.EntryPoints(e for e in found if e.value.partition(".")[0].partition(":")[0] not in BLOCKED)


sys.meta_path.insert(0, Blocked())
importlib.metadata.entry_points = entry_points
"""

pytestmark = pytest.mark.slow


def weasel(*args: str, cwd: Path, extra_vars: Optional[Dict[str, str]] = None, env: Optional[Dict[str, str]] = None) -> str:
    command = [str(Path(sys.executable).parent / "weasel"), "run", *args, "."]
    for name, value in {**CI_SCALE, **(extra_vars or {})}.items():
        command += [f"--vars.{name}", value]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def test_readme_gives_the_ci_scale():
    overrides = " ".join(f"--vars.{k} {v}" for k, v in CI_SCALE.items())
    assert overrides in (ROOT / "README.md").read_text()


def copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(source, project / name)
    return project


def test_run_all_at_ci_scale_then_nothing_to_redo(tmp_path):
    project = copy_project(tmp_path)

    started = time.time()
    weasel("all", cwd=project)
    print(f"weasel run all at CI scale: {time.time() - started:.0f} s")

    silver = srsly.read_json(project / "corpus/silver.summary.json")
    bronze = srsly.read_json(project / "corpus/bronze.summary.json")
    assert silver["items"] == 40 and silver["docs"] == 40 - silver["rejects"]
    # 9 prompts of 10 sentences each (the config's per_prompt), answered together; a reject is counted, kept aside
    answered = bronze["items"] - bronze["rejects"]
    assert bronze["items"] == 9 and bronze["rejects"] <= 2 and bronze["docs"] == 10 * answered
    assert sum(bronze["labels"].values()) == bronze["docs"]
    summary = srsly.read_json(project / "metrics/experiment/summary.json")
    assert set(summary["regimes"]) == {"gold", "silver", "bronze", "gold_silver", "gold_bronze", "gold_silver_bronze",
                                       "gold_bronze_unfiltered", "gold_silver_bronze_50pct", "scarce_gold", "scarce_gold_silver_bronze"}
    assert set(summary["architectures"]) == {"fast", "accurate", "cnn"}
    assert set(summary["architectures"]["accurate"]["regimes"]) == {"gold", summary["best_augmented"]}
    assert summary["regimes"]["gold"]["macro_f"]["mean"] > 0.2  # 5 epochs on gold train: far from chance all the same
    # choices are made on gold dev and the authored dev notes together, never on `patients`
    assert summary["sources"]["dev"] == "corpus/dev_all.spacy" and summary["sources"]["patients"] == "corpus/patients.spacy"
    dev_sizes = {name: len(read_docs(project / f"corpus/{name}.spacy")) for name in ("dev", "dev_notes", "dev_all")}
    assert dev_sizes["dev_all"] == dev_sizes["dev"] + dev_sizes["dev_notes"] and dev_sizes["dev_notes"] > 0
    assert srsly.read_json(project / "metrics/llm_test.json")["n"] == 30
    data = srsly.read_json(project / "metrics/data.json")
    assert data["datasets"]["bronze"]["in_gold_test"] == 0 and data["bronze_agreement"]["all"]["checked"] > 0
    assert srsly.read_json(project / "metrics/privacy.json")["datasets"]["bronze_filtered"]["identifiers"]["sentences"] == 0
    report = (project / "reports/README.md").read_text()
    speed = srsly.read_json(project / "metrics/benchmarks/pipeline_speed.json")
    assert speed["memory_measured_in"].startswith("fresh venv") and speed["runs"]["pipeline, 1 process"]["sentences"] > 0
    assert not (project / "metrics/benchmarks/llm_speed.json").exists()  # the LLM settings: `benchmark_llm`, not `all`
    assert "## Speed and scale" in report and "Labeling MIMIC-III" in report and "`weasel run benchmark_llm`" in report
    cost = srsly.read_json(project / "metrics/benchmarks/cost_estimate.json")
    assert cost["llm_rate_from"]["sentences"] == 40 and "LLM on CPU (measured rate)" in cost["estimates"]  # the silver step's rate
    assert "## Regimes" in report and (project / "reports/per_label_f1.png").stat().st_size > 10_000
    for package in ("en_ad_signs", "en_ad_signs_trf"):
        assert (project / f"packages/{package}-0.1.0/dist/{package}-0.1.0-py3-none-any.whl").exists()
        card = srsly.read_json(project / f"packages/meta/{package}.json")
        assert set(card["ad_signs"]["operating_points"]) == {"f1", "screening"} and "cats_binary_f" in card["performance"]
    trf_speed = srsly.read_json(project / "metrics/benchmarks/pipeline_speed_trf.json")
    assert trf_speed["runs"]["pipeline, 1 process"]["share_of_encoder"] > 0
    assert trf_speed["memory_measured_in"] == "venv with spaCy and the wheels, an earlier pipeline's too"
    headline = srsly.read_json(project / "reports/summary.json")
    assert headline["default_package"] == "en_ad_signs" and set(headline["architectures"]) == {"fast", "accurate", "cnn"}
    assert "## Architectures" in report and (project / "reports/precision_recall.png").exists()

    again = weasel("all", cwd=project)
    for step in ("corpus", "encoders", "silver", "bronze", "bronze_check", "llm_test", "experiment", "package", "benchmark", "report"):
        assert f"Skipping '{step}': nothing changed" in again, again

    started = time.time()
    weasel("benchmark_llm", cwd=project)
    print(f"weasel run benchmark_llm at CI scale: {time.time() - started:.0f} s")
    llm_speed = srsly.read_json(project / "metrics/benchmarks/llm_speed.json")
    assert llm_speed["runs"]["5 per prompt, prefix reuse"]["sentences"] == 4 and llm_speed["runs"]["5 per prompt, prefix reuse"]["rejects"] == 0
    assert srsly.read_json(project / "metrics/benchmarks/llm_generation.json")["runs"]["default"]["prompts"] == 2
    weasel("report", "--force", cwd=project)
    report = (project / "reports/README.md").read_text()
    assert f"measured {llm_speed['measured_at']}" in report and "Label-to-data settings side by side" in report


def test_published_data_rebuild_and_package_the_pipelines_without_the_llm_stack(tmp_path):
    project = copy_project(tmp_path)
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "sitecustomize.py").write_text(WITHOUT_LLM_STACK)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(blocked), os.environ.get("PYTHONPATH")]))}

    started = time.time()
    weasel("published", cwd=project, extra_vars=PUBLISHED, env=env)
    print(f"weasel run published at CI scale: {time.time() - started:.0f} s")

    assert not (project / "corpus/silver.spacy").exists() and not (project / "corpus/bronze.spacy").exists()  # no LLM step ran
    summary = srsly.read_json(project / "metrics/experiment/summary.json")
    assert "gold_bronze_unfiltered" not in summary["regimes"] and summary["sources"]["bronze_alone"] == PUBLISHED["bronze_train"]
    published_silver = len(read_docs(project / PUBLISHED["silver_train"]))
    assert 0 < len(read_docs(project / "corpus/silver_judged.spacy")) <= published_silver
    for package in ("en_ad_signs", "en_ad_signs_trf"):
        assert (project / f"packages/{package}-0.1.0/dist/{package}-0.1.0-py3-none-any.whl").exists()
        card = srsly.read_json(project / f"packages/meta/{package}.json")
        bronze_model = srsly.read_json(project / PUBLISHED["bronze_summary"])["settings"]["model_sha256"]
        assert "cats_binary_f" in card["performance"] and bronze_model in card["notes"]
