"""`weasel run all` end to end at the CI scale, on the real local LLM, in a copy of the project:
raw inputs -> silver and bronze -> the experiment and its report -> the installable wheel;
then a second run skips everything that is up to date."""
import shutil
import subprocess
import sys
import time
from pathlib import Path

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

pytestmark = pytest.mark.slow


def weasel(*args: str, cwd: Path) -> str:
    command = [str(Path(sys.executable).parent / "weasel"), "run", *args, "."]
    for name, value in CI_SCALE.items():
        command += [f"--vars.{name}", value]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def test_readme_gives_the_ci_scale():
    overrides = " ".join(f"--vars.{k} {v}" for k, v in CI_SCALE.items())
    assert overrides in (ROOT / "README.md").read_text()


def test_run_all_at_ci_scale_then_nothing_to_redo(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(source, project / name)

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
    llm_speed = srsly.read_json(project / "metrics/benchmarks/llm_speed.json")["runs"]
    assert llm_speed["5 per prompt, prefix reuse"]["sentences"] == 4 and llm_speed["5 per prompt, prefix reuse"]["rejects"] == 0
    assert "## Speed and scale" in report and "Labeling MIMIC-III" in report
    assert "## Regimes" in report and (project / "reports/per_label_f1.png").stat().st_size > 10_000
    for package in ("en_ad_signs", "en_ad_signs_trf"):
        assert (project / f"packages/{package}-0.1.0/dist/{package}-0.1.0-py3-none-any.whl").exists()
        card = srsly.read_json(project / f"packages/meta/{package}.json")
        assert set(card["ad_signs"]["operating_points"]) == {"f1", "screening"} and "cats_binary_f" in card["performance"]
    trf_speed = srsly.read_json(project / "metrics/benchmarks/pipeline_speed_trf.json")["runs"]
    assert trf_speed["pipeline, 1 process"]["share_of_encoder"] > 0
    headline = srsly.read_json(project / "reports/summary.json")
    assert headline["default_package"] == "en_ad_signs" and set(headline["architectures"]) == {"fast", "accurate", "cnn"}
    assert "## Architectures" in report and (project / "reports/precision_recall.png").exists()

    again = weasel("all", cwd=project)
    for step in ("corpus", "encoders", "silver", "bronze", "bronze_check", "llm_test", "experiment", "package", "benchmark", "report"):
        assert f"Skipping '{step}': nothing changed" in again, again
