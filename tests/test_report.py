"""The report's rendering: scripts/report.py's context and Jinja template on a small hand-made run
(two labels, every regime the template names), without running the experiment."""
import importlib.util

from conftest import ROOT

spec = importlib.util.spec_from_file_location("report", ROOT / "scripts/report.py")
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)

LABELS = ["MEMORY", "MOOD"]


def stat(mean, std=0.01):
    return {"mean": mean, "std": std, "interval": {"ci_low": mean - 0.05, "ci_high": mean + 0.05}}


def regime(macro_f, train_docs=100):
    scores = {"train_docs": train_docs, "macro_f": stat(macro_f), "micro_f": stat(macro_f), "binary_f": stat(0.9),
              "dev_macro_f": stat(macro_f + 0.01), "brier": stat(0.03), "per_label": {"MEMORY": {"f": 0.7}, "MOOD": {"f": 0.5}}}
    if train_docs != 100:  # every regime but gold only
        scores["vs_gold"] = {"mean_diff": macro_f - 0.7, "ci_low": -0.02, "ci_high": 0.04, "p_not_better": 0.25,
                             "rare": {"mean_diff": 0.01, "ci_low": -0.03, "ci_high": 0.05, "p_not_better": 0.4}}
    return scores


def run(floor_reached=True):
    regimes = {name: regime(0.6 + i / 100, 100 + i) for i, name in enumerate(report.MAIN_REGIMES)}
    regimes["gold"] = regime(0.7)
    regimes["gold"]["train_seconds"] = stat(42.4)  # runs reused from an earlier experiment have none
    regimes["gold_silver_bronze_50pct"] = regime(0.62, 300)
    package = {"architecture": "fast", "regime": "gold_bronze", "seed": 0, "dev_macro_f": 0.8, "speed_floor": 1000.0,
               "floor_reached": floor_reached}
    experiment = {"labels": LABELS, "seeds": 2, "amounts": [50], "config": "configs/train_fast.cfg",
                  "sources": {"train": "corpus/train.spacy", "dev": "corpus/dev_all.spacy"}, "dev_docs": 1234, "rare_labels": ["MOOD"],
                  "default_architecture": "fast", "best_augmented": "gold_bronze", "regimes": regimes,
                  "architectures": {"fast": {"config": "configs/train_fast.cfg", "regimes": regimes,
                                             "speed": {"sentences_per_second": 3500.0, "words_per_second": 40000.0,
                                                       "model_mb": 50.0, "peak_rss_mb": 600.0}}},
                  "packages": {"en_ad_signs": package},
                  "regime_names": {**{name: name.replace("_", " + ") for name in regimes},
                                   "gold_silver_bronze_50pct": "gold + silver + bronze, 50 %"}}
    dataset = {"sentences": 10, "labels": {"MEMORY": 4, "MOOD": 2, "(none)": 5}, "labels_per_sentence": 0.6,
               "tokens_mean": 12.0, "vocabulary": 80, "distinct_1": 0.3, "distinct_2": 0.8, "duplicate_rate": 0.0,
               "in_gold_test": 0}
    data = {"datasets": {"gold train": dataset, "gold test": {**dataset, "in_gold_test": None}}}
    llm = {"macro_f": 0.5, "micro_f": 0.55, "binary": {"f": 0.85, "p": 0.8, "r": 0.9},
           "per_label": {"MEMORY": {"f": 0.6}, "MOOD": {"f": 0.4}}}
    decisions = {"rows": [{"label": label, "points": [{"threshold": 0.3, "p": 0.8, "r": 0.7},
                                                      {"threshold": 0.1, "p": 0.6, "r": 0.9}]} for label in LABELS],
                 "brier": 0.03, "ece": 0.02, "ones": 0.01}
    return report.context(experiment, data, llm, {"threshold": 8, "datasets": {}}, experiment["rare_labels"], decisions)


def test_the_report_renders_the_run():
    text = report.render(run())
    assert text.startswith("# Does LLM-made training data help?") and text.endswith("compared with gold only.\n") and "{" not in text
    assert "Rare labels (*): the 1 with the fewest gold train sentences: MOOD (2)." in text
    assert ("Thresholds chosen on dev (`corpus/dev_all.spacy`, 1,234 sentences), one per label: `f1` (the default) "
            "maximises dev F1") in text
    assert ("**Packaged as `en_ad_signs`** (the default): fast (`train_fast.cfg`) on gold + bronze, the best dev "
            "macro F1 (0.800) among the architectures that reach 1,000 sentences/s on 1 process.\n\n## Decisions") in text
    # the regimes table: display names, mean ± std, the paired bootstrap against gold only; the curve's regimes spelled
    assert "| gold + bronze | 104 | 0.640 ± 0.010 | 0.640 ± 0.010 | 0.900 ± 0.010 | 0.500 | -0.060 [-0.020, +0.040], p = 0.250 |" in text
    assert "| gold + silver + bronze, 50 % | 300 | 0.620 ± 0.010 |" in text
    assert "| fast | gold | 100 | 0.710 | 0.700 ± 0.010 [0.650, 0.750] | 0.700 | 0.900 | 0.500 | 0.50 | 0.030 | — | — | 42 | 3,500 |" in text
    assert "| 0.030 | -0.050 [-0.020, +0.040] | +0.010 [-0.030, +0.050] | — | 3,500 |" in text  # Δ on all labels, on the rare ones
    assert "mean F1 on the rare labels 0.500 vs 0.500 (+0.010 [-0.030, +0.050])." in text
    assert "| MOOD * | 2 | 0.50 | 0.50 | 0.50 | 0.50 | 0.50 | 0.50 | 0.40 |" in text
    assert "| MEMORY | 0.30 | 0.80 | 0.70 | 0.10 | 0.60 | 0.90 |" in text
    assert "| gold test | 10 | 0.60 | 50% | 12.0 | 80 | 0.30 | 0.80 | 0.80 | 0.0% | — |" in text
    assert ("Best regime on macro F1: **gold + silver + bronze**, -0.050 over gold only (95 % bootstrap interval -0.020 "
            "to +0.040; share of resamples where it is not better: 0.250).") in text
    judged = {"all": {"sentences": 400, "micro": {"p": 0.65, "r": 0.52}, "exact_match": 0.64},
              "judge_agrees": {"sentences": 250, "micro": {"p": 0.94, "r": 0.74}, "exact_match": 0.88}}
    ctx = run()
    ctx["data"]["silver_noise"] = {"micro_f": 0.5, "macro_f": 0.5, "binary": {"f": 0.8, "p": 0.8, "r": 0.8}, "judge": judged}
    assert ("the judge agrees with the LLM on 250 (62%). There the LLM's labels have precision 0.94 and recall 0.74, and 88% "
            "of the sentences have exactly the gold labels; over all sentences precision 0.65, recall 0.52, 64% exact.") in report.render(ctx)
    for absent in ("## Why train a classifier", "## Speed and scale", "## Findings on whole notes", "scarce gold",
                   "**Packaged as `en_ad_signs_trf`**", "How noisy is silver"):
        assert absent not in text  # the sections without their results


def test_a_package_below_the_speed_floor_says_so():
    text = report.render(run(floor_reached=False))
    assert ("among the regimes of the fastest architecture: none reached 1,000 sentences/s on 1 process in this run."
            in text)


def test_benchmarks_without_the_llm_settings_and_a_generation_rate_only_when_every_prompt_was_asked(tmp_path):
    import srsly

    folder = tmp_path / "benchmarks"
    folder.mkdir()
    for name in ("pipeline_speed", "cost_estimate"):
        srsly.write_json(folder / f"{name}.json", {"runs": {}})
    bronze = {"items": 54, "docs": 530, "seconds": 33.3}
    srsly.write_json(tmp_path / "bronze.json", {**bronze, "llm_calls": {"cached": 53, "asked": 1}})
    found = report.benchmarks(folder, tmp_path / "bronze.json")
    assert found["llm_speed"] is None and found["llm_generation"] is None  # `benchmark_llm` was not run
    assert found["generation"] is None  # 53 of 54 prompts answered from the cache: 530 sentences in 33 s is no rate
    srsly.write_json(tmp_path / "bronze.json", {**bronze, "seconds": 371.0, "llm_calls": {"asked": 54}})
    assert round(report.benchmarks(folder, tmp_path / "bronze.json")["generation"]["sentences_per_minute"]) == 86
