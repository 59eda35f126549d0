"""The benchmark scripts' arithmetic on small made-up inputs (their real runs are `weasel run benchmark`)."""
import subprocess
import sys

import pytest
import srsly

from conftest import ROOT, write_jsonl


def test_cost_estimate_from_measured_rates(tmp_path):
    srsly.write_json(tmp_path / "llm.json", {"seconds": 30.0, "llm_calls": {"asked": 60}, "items": 70})  # 10 from the cache
    srsly.write_json(tmp_path / "pipe.json", {"runs": {"pipeline, 1 process": {"sentences_per_second": 1000.0}}})
    write_jsonl(tmp_path / "notes.jsonl", [{"text": "Pt confused. Wife reports memory loss. BP 120/80."}] * 3)
    out = tmp_path / "cost.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks/cost_estimate.py"), "--labeling", str(tmp_path / "llm.json"),
                    "--pipeline-speed", str(tmp_path / "pipe.json"), "--notes", str(tmp_path / "notes.jsonl"),
                    "--total-notes", "1200", "--gpu-sentences-per-second", "20", "--gpu-price-per-hour", "2",
                    "--out", str(out)], check=True, capture_output=True)
    cost = srsly.read_json(out)
    assert cost["sentences_per_note"] == 3 and cost["sentences"] == 3600
    cpu, gpu, pipeline = cost["estimates"].values()
    assert cpu["hours"] == pytest.approx(3600 * 0.5 / 3600)  # 1 hour at 2 sentences/s
    assert gpu["hours"] == pytest.approx(3600 / 20 / 3600) and gpu["cost_usd"] == pytest.approx(gpu["hours"] * 2)
    assert pipeline["hours"] == pytest.approx(3600 / 1000 / 3600)
    assert cost["llm_rate_from"]["sentences"] == 60


def test_cost_estimate_leaves_out_a_rate_it_did_not_measure(tmp_path):
    srsly.write_json(tmp_path / "llm.json", {"seconds": 0.2, "llm_calls": {"asked": 0}, "items": 70})  # all from the cache
    srsly.write_json(tmp_path / "pipe.json", {"runs": {"pipeline, 1 process": {"sentences_per_second": 1000.0}}})
    write_jsonl(tmp_path / "notes.jsonl", [{"text": "Pt confused. Wife reports memory loss."}])
    out = tmp_path / "cost.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks/cost_estimate.py"), "--labeling", str(tmp_path / "llm.json"),
                           "--pipeline-speed", str(tmp_path / "pipe.json"), "--notes", str(tmp_path / "notes.jsonl"),
                           "--out", str(out)], check=True, capture_output=True, text=True)
    cost = srsly.read_json(out)
    assert "answer cache" in done.stdout and cost["llm_rate_from"] is None
    assert list(cost["estimates"]) == ["LLM on GPU vLLM (assumed rate)", "trained pipeline on CPU (measured rate)"]


def test_pipeline_speed_reuses_only_a_venv_an_earlier_call_made(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks/pipeline_speed.py"), "no_model", "--venv", str(tmp_path / "venv"),
                           "--reuse-venv"], capture_output=True, text=True)
    assert done.returncode == 1 and "needs a venv made by an earlier call with --venv" in done.stdout


def test_frozen_probe_chooses_on_dev(tmp_path):
    from ad_signs.transformer import minilm_path

    gold = tmp_path / "gold"
    gold.mkdir()
    for split, n in (("train", 273), ("dev", 60), ("test", 40)):
        srsly.write_jsonl(gold / f"{split}.jsonl", list(srsly.read_jsonl(ROOT / f"assets/gold/{split}.jsonl"))[:n])
    out = tmp_path / "probe.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks/frozen_probe.py"), f"minilm={minilm_path()}", "--gold", str(gold),
                    "--taxonomy", str(ROOT / "components/ad_signs/taxonomy.yml"), "--output", str(out)], check=True, cwd=ROOT)
    result = srsly.read_json(out)["minilm"]
    assert result["dimensions"] == 384 and result["sentences"] == 373
    assert result["chosen_on_dev"] == max(result["runs"], key=lambda run: run["dev_macro_f"])
    assert [run["C"] for run in result["runs"]] == pytest.approx([0.3, 1, 3, 10, 30])  # every C of the sweep, scored
    assert all(0 < run["test_macro_f"] and run["test_worst_f"] <= run["test_macro_f"] for run in result["runs"])
    assert result["chosen_on_dev"]["dev_macro_f"] > 0.2


def test_throughput_counts_sentences_and_words():
    import spacy

    from ad_signs.sentences import split_sentences
    from ad_signs.speed import throughput
    from conftest import NOTE

    nlp = spacy.blank("en")
    nlp.add_pipe("clinical_sentencizer")
    result = throughput(nlp, [NOTE] * 3, 1, 2)
    assert result["sentences"] == 3 * len(split_sentences(NOTE))
    assert result["words"] == 3 * sum(not token.is_space for token in nlp(NOTE))
    assert result["sentences_per_second"] == pytest.approx(result["sentences"] / result["seconds"])


def test_compare_runs_pairs_the_runs_both_experiments_have(tmp_path):
    def run(macro, rare):
        return {"dev": {"macro_f": macro, "binary": {"f": macro + 0.1}, "per_label": {"A": {"f": rare}, "B": {"f": 1.0}}}}

    srsly.write_json(tmp_path / "summary.json", {"rare_labels": ["A"]})  # the first experiment's summary
    for folder, macro, rare in (("before", 0.70, 0.4), ("after", 0.72, 0.5)):
        (tmp_path / folder).mkdir()
        for name in ("fast-gold-seed0", "fast-gold-seed1"):
            srsly.write_json(tmp_path / folder / f"{name}.json", run(macro, rare))
    srsly.write_json(tmp_path / "after" / "fast-silver-seed0.json", run(0.3, 0.1))
    out = tmp_path / "compare.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks/compare_runs.py"), str(tmp_path / "before"), str(tmp_path / "after"),
                    "--out", str(out)], check=True, cwd=ROOT)
    result = srsly.read_json(out)
    assert result["runs"] == 2 and result["improved_macro_f"] == 2  # the run only one experiment has is left out
    assert result["macro_f"] == pytest.approx([0.70, 0.72]) and result["binary_f"] == pytest.approx([0.80, 0.82])
    assert result["rare_labels"] == ["A"] and result["rare_f"] == pytest.approx([0.4, 0.5])


def test_llm_speed_counts_the_tokens_each_eval_call_takes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("llm_speed", ROOT / "benchmarks/llm_speed.py")
    llm_speed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(llm_speed)

    class FakeLlama:  # test double: records what it is asked to evaluate
        def __init__(self):
            self.evaluated = []

        def eval(self, tokens):
            self.evaluated.append(list(tokens))

    llm = FakeLlama()
    with llm_speed.EvalCounter(llm) as counter:
        llm.eval([1, 2, 3])
        llm.eval([4])
    llm.eval([5])  # after the block: no longer counted
    assert (counter.tokens, counter.calls) == (4, 2) and counter.seconds >= 0
    assert llm.evaluated == [[1, 2, 3], [4], [5]] and "eval" not in vars(llm)


def test_workflow_steps_times_each_step_and_command_from_weasels_output():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from workflow_steps import step_times

    lines = [(0.0, "\x1b[1m=============== corpus ===============\x1b[0m"), (0.1, "Running command: python -m ad_signs corpus a b"),
             (5.0, "✔ 913 docs"), (6.1, "Running command: python -m ad_signs corpus c d"),
             (12.0, "=============== silver ==============="), (12.0, "Running command: python -m ad_signs label x y"),
             (40.0, "LLM labeling: 40/40"), (42.5, "✔ 40 docs")]
    steps, commands = step_times(lines)
    assert steps == {"corpus": 11.9, "silver": 30.5}
    assert [(c["step"], c["seconds"]) for c in commands] == [("corpus", 6.0), ("corpus", 5.9), ("silver", 30.5)]
