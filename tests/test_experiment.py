"""The experiment's choices: the packaged default is chosen on dev among the architectures fast
enough; the regimes, with the scarce-gold setting, and what each is compared with. (Its statistics,
macro F1 on arrays and the paired bootstrap, are ad_signs.metrics': tests/test_metrics.py.)"""
import importlib.util

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("experiment", ROOT / "scripts/experiment.py")
experiment = importlib.util.module_from_spec(spec)
spec.loader.exec_module(experiment)


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
    weighted = experiment.write_regimes(sources, tmp_path / "weighted", [50], seed=0, scarce=6, gold_weight=3)
    sizes = {name: size for name, (_, _, size) in weighted.items()}
    assert sizes == {"gold": 10, "silver": 4, "bronze": 3, "gold_silver": 34, "gold_bronze": 33, "gold_silver_bronze": 37,
                     "scarce_gold": 6, "scarce_gold_silver_bronze": 25, "gold_silver_bronze_50pct": 30 + 2 + 2}
    assert weighted["gold"][1] == regimes["gold"][1] and weighted["gold_bronze"][1] != regimes["gold_bronze"][1]
    # stamps follow the sentences and labels, not the file: the same silver written elsewhere, or relabelled
    docs = list(DocBin().from_disk(sources["silver"]).get_docs(nlp.vocab))
    DocBin(docs=docs).to_disk(tmp_path / "silver_again.spacy")
    docs[0].cats = {"COGNITIVE_IMPAIRMENT": 1.0}
    DocBin(docs=docs).to_disk(tmp_path / "silver_relabelled.spacy")
    same = experiment.write_regimes({**sources, "silver": tmp_path / "silver_again.spacy"}, tmp_path / "same", [], seed=0)
    relabelled = experiment.write_regimes({**sources, "silver": tmp_path / "silver_relabelled.spacy"}, tmp_path / "other", [], seed=0)
    assert same["gold_silver"][1] == regimes["gold_silver"][1] != relabelled["gold_silver"][1]
    # the bronze-only regime from its own source (e.g. bronze no gold-trained judge chose); the mixtures keep --bronze
    sources["bronze_alone"] = tmp_path / "bronze_alone.spacy"
    DocBin(docs=[nlp.make_doc(f"unjudged sentence {i}") for i in range(5)]).to_disk(sources["bronze_alone"])
    alone = experiment.write_regimes(sources, tmp_path / "alone", [], seed=0)
    texts = [doc.text for doc in DocBin().from_disk(alone["bronze"][0]).get_docs(nlp.vocab)]
    assert texts == [f"unjudged sentence {i}" for i in range(5)] and alone["gold_bronze"][2] == 13
    assert alone["bronze"][1] != regimes["bronze"][1] and alone["gold_bronze"][1] == regimes["gold_bronze"][1]


def test_scarce_regimes_are_also_compared_with_scarce_gold_alone():
    by_regime = {name: [{"seed": 0}] for name in ("gold", "gold_silver", "scarce_gold", "scarce_gold_silver_bronze")}
    assert experiment.baselines_of("gold", by_regime) == {}
    assert set(experiment.baselines_of("gold_silver", by_regime)) == {"vs_gold"}
    assert set(experiment.baselines_of("scarce_gold", by_regime)) == {"vs_gold"}
    both = experiment.baselines_of("scarce_gold_silver_bronze", by_regime)
    assert set(both) == {"vs_gold", "vs_scarce_gold"} and both["vs_scarce_gold"] is by_regime["scarce_gold"]


def test_a_regime_is_summarized_with_intervals_and_paired_comparisons():
    import numpy as np

    from ad_signs.metrics import score_label_sets

    labels = ["A", "B"]
    gold_sets = [{"A"}, {"B"}, set(), {"A", "B"}] * 10

    def run(seed, predictions):
        test = {**score_label_sets(gold_sets, predictions, labels), "brier": 0.1,
                "predictions": [sorted(p) for p in predictions]}
        other = {**score_label_sets(gold_sets[:8], predictions[:8], labels), "predictions": [sorted(p) for p in predictions[:8]]}
        return {"seed": seed, "train_docs": 40, "test": test, "dev": {"macro_f": test["macro_f"]}, "external": {"other": other},
                "train_seconds": 10.0 + seed}

    gold_runs = [run(seed, [{"A"}, set(), set(), {"A"}] * 10) for seed in range(2)]
    better_runs = [run(seed, gold_sets) for seed in range(2)]
    gold = np.array([[label in s for label in labels] for s in gold_sets])
    stats = experiment.summarize_regime(better_runs, {"vs_gold": gold_runs}, gold, labels, 200, 0, {"other": gold[:8]}, ["B"])
    assert stats["macro_f"]["mean"] == 1.0 and stats["macro_f"]["interval"]["ci_low"] == 1.0
    assert stats["train_seconds"]["mean"] == 10.5
    assert stats["vs_gold"]["mean_diff"] > 0.3 and stats["vs_gold"]["p_not_better"] == 0.0
    # the rare label B on its own: the gold runs never predict it (F1 0), the better runs always right (F1 1)
    assert stats["vs_gold"]["rare"]["mean_diff"] == 1.0 and stats["vs_gold"]["rare"]["ci_low"] == 1.0
    other = stats["external"]["other"]  # another test set: the same summary and comparison
    assert other["macro_f"]["mean"] == 1.0 and other["vs_gold"]["mean_diff"] > 0.3 and other["per_label"]["B"] == 1.0


def test_the_rare_labels_are_the_fewest_in_gold_train():
    from types import SimpleNamespace

    docs = [SimpleNamespace(cats={"A": 1.0, "B": 1.0, "C": 0.0})] * 3 + [SimpleNamespace(cats={"A": 1.0, "C": 1.0})]
    assert experiment.rare_labels(["A", "B", "C"], docs, 2) == ["C", "B"]
    assert experiment.rare_labels(["A", "B", "C"], docs, 0) == []


def test_the_scarce_regime_trains_on_what_a_scarce_judge_chose(tmp_path):
    """scarce + silver + bronze must owe nothing to the gold it is compared without: its silver and
    bronze come from their own sources (judged by a judge trained on the scarce gold only)."""
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    sources = {}
    for name, n in (("train", 10), ("silver", 4), ("bronze", 3), ("scarce_silver", 2), ("scarce_bronze", 0)):
        sources[name] = tmp_path / f"{name}.spacy"
        DocBin(docs=[nlp.make_doc(f"{name} sentence {i}") for i in range(n)]).to_disk(sources[name])
    regimes = experiment.write_regimes(sources, tmp_path / "data", [], seed=0, scarce=6)
    texts = [doc.text for doc in DocBin().from_disk(regimes["scarce_gold_silver_bronze"][0]).get_docs(nlp.vocab)]
    assert texts == [f"train sentence {i}" for i in range(6)] + ["scarce_silver sentence 0", "scarce_silver sentence 1"]
    assert regimes["gold_silver_bronze"][2] == 17  # the full-gold regimes keep --silver and --bronze
    empty_silver = tmp_path / "empty.spacy"
    DocBin(docs=[]).to_disk(empty_silver)
    with pytest.raises(ValueError, match="empty.spacy"):  # an empty source of the main regimes is still an error
        experiment.write_regimes({**sources, "silver": empty_silver}, tmp_path / "bad", [], seed=0, scarce=6)
