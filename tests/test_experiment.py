"""The experiment's statistics: vectorized macro F1 equals the metrics module's; the paired
bootstrap (over sentences and seeds) says 'no difference' for identical runs and 'better' for a
clearly better one, and its interval widens with seed variance; the packaged default is chosen
on dev among the architectures fast enough."""
import importlib.util
import random

import numpy as np
import pytest

from ad_signs.metrics import score_label_sets
from conftest import ROOT

spec = importlib.util.spec_from_file_location("experiment", ROOT / "scripts/experiment.py")
experiment = importlib.util.module_from_spec(spec)
spec.loader.exec_module(experiment)
LABELS = list("ABCDE")


def random_sets(rng, n, p):
    return [{label for label in LABELS if rng.random() < p} for _ in range(n)]


def matrix(sets):
    return np.array([[label in s for label in LABELS] for s in sets])


def test_vectorized_macro_f1_matches_the_metrics_module():
    rng = random.Random(0)
    for _ in range(20):
        gold, pred = random_sets(rng, 60, 0.2), random_sets(rng, 60, 0.25)
        expected = score_label_sets(gold, pred, LABELS)["macro_f"]
        assert experiment.macro_f1(matrix(gold)[None], matrix(pred)[None])[0] == pytest.approx(expected)


def test_paired_bootstrap():
    rng = random.Random(1)
    gold = random_sets(rng, 200, 0.2)
    noisy = [random_sets(rng, 200, 0.2) for _ in range(3)]
    same = experiment.bootstrap(matrix(gold), [matrix(n) for n in [noisy[0]] * 3], [matrix(n) for n in [noisy[0]] * 3], 400, 0)
    assert same == {"mean": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_not_better": 1.0}
    better = [matrix([g if rng.random() < 0.7 else n for g, n in zip(gold, run)]) for run in noisy]
    result = experiment.bootstrap(matrix(gold), better, [matrix(n) for n in noisy], 400, 0)
    assert result["mean"] > 0.3 and result["ci_low"] > 0 and result["p_not_better"] == 0.0


def test_the_interval_holds_seed_variance():
    rng = random.Random(2)
    gold = random_sets(rng, 300, 0.3)
    steady = [matrix([g if rng.random() < 0.6 else set() for g in gold])] * 3
    varied = [matrix([g if rng.random() < share else set() for g in gold]) for share in (0.3, 0.6, 0.9)]
    width = {name: experiment.bootstrap(matrix(gold), runs, None, 600, 0) for name, runs in (("steady", steady), ("varied", varied))}
    assert (width["varied"]["ci_high"] - width["varied"]["ci_low"]) > 1.5 * (width["steady"]["ci_high"] - width["steady"]["ci_low"])


def test_the_default_package_is_the_best_on_dev_among_the_fast_enough():
    def arch(speed, dev):
        return {"speed": {"sentences_per_second": speed},
                "regimes": {regime: {"dev_macro_f": {"mean": score}} for regime, score in dev.items()}}

    archs = {"fast": arch(5000, {"gold": 0.50, "gold_bronze": 0.55, "bronze": 0.9}),
             "accurate": arch(200, {"gold": 0.70, "gold_bronze": 0.72}), "cnn": arch(3000, {"gold": 0.52})}
    chosen = experiment.choose_packages(archs, 1000, "accurate")
    assert (chosen["en_ad_signs"]["architecture"], chosen["en_ad_signs"]["regime"]) == ("fast", "gold_bronze")  # not bronze only
    assert (chosen["en_ad_signs_trf"]["architecture"], chosen["en_ad_signs_trf"]["regime"]) == ("accurate", "gold_bronze")
    slow_day = experiment.choose_packages(archs, 10_000, "accurate")["en_ad_signs"]
    assert slow_day["architecture"] == "fast" and not slow_day["floor_reached"]  # the fastest, never the accurate one


def test_regimes_with_the_scarce_gold_setting(tmp_path):
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    sources = {}
    for name, n in (("train", 10), ("silver", 4), ("bronze", 3)):
        sources[name] = tmp_path / f"{name}.spacy"
        DocBin(docs=[nlp.make_doc(f"{name} sentence {i}") for i in range(n)]).to_disk(sources[name])
    regimes = experiment.write_regimes(sources, tmp_path / "data", [50], seed=0, scarce=6)
    sizes = {name: size for name, (_, _, size) in regimes.items()}
    assert sizes == {"gold": 10, "silver": 4, "bronze": 3, "gold_silver": 14, "gold_bronze": 13, "gold_silver_bronze": 17,
                     "scarce_gold": 6, "scarce_gold_silver_bronze": 13, "gold_silver_bronze_50pct": 10 + 2 + 2}
    scarce = [doc.text for doc in DocBin().from_disk(regimes["scarce_gold"][0]).get_docs(nlp.vocab)]
    assert scarce == [f"train sentence {i}" for i in range(6)]  # the first N, in file order
    again = experiment.write_regimes(sources, tmp_path / "again", [50], seed=0, scarce=5)
    assert again["scarce_gold"][1] != regimes["scarce_gold"][1] and again["gold"][1] == regimes["gold"][1]  # stamps


def test_scarce_regimes_are_also_compared_with_scarce_gold_alone():
    by_regime = {name: [{"seed": 0}] for name in ("gold", "gold_silver", "scarce_gold", "scarce_gold_silver_bronze")}
    assert experiment.baselines_of("gold", by_regime) == {}
    assert set(experiment.baselines_of("gold_silver", by_regime)) == {"vs_gold"}
    assert set(experiment.baselines_of("scarce_gold", by_regime)) == {"vs_gold"}
    both = experiment.baselines_of("scarce_gold_silver_bronze", by_regime)
    assert set(both) == {"vs_gold", "vs_scarce_gold"} and both["vs_scarce_gold"] is by_regime["scarce_gold"]
