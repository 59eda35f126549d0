"""The vectorised metrics (the experiment's statistics): macro F1 on boolean arrays equals the
label-set scorer's; the paired bootstrap (over sentences and seeds) says 'no difference' for
identical runs and 'better' for a clearly better one, and its interval widens with seed variance."""
import random

import numpy as np
import pytest

from ad_signs.metrics import bootstrap_macro_f1, macro_f1, per_label_f1, score_label_sets

LABELS = list("ABCDE")


def random_sets(rng, n, p):
    return [{label for label in LABELS if rng.random() < p} for _ in range(n)]


def matrix(sets):
    return np.array([[label in s for label in LABELS] for s in sets])


def test_vectorized_f1_matches_the_label_set_scorer():
    rng = random.Random(0)
    for _ in range(20):
        gold, pred = random_sets(rng, 60, 0.2), random_sets(rng, 60, 0.25)
        expected = score_label_sets(gold, pred, LABELS)
        assert macro_f1(matrix(gold)[None], matrix(pred)[None])[0] == pytest.approx(expected["macro_f"])
        per_label = per_label_f1(matrix(gold), matrix(pred))  # one resample: (sentences, labels) -> (labels,)
        assert per_label.tolist() == pytest.approx([expected["per_label"][label]["f"] for label in LABELS])


def test_a_label_neither_gold_nor_predicted_scores_zero_as_in_the_label_set_scorer():
    gold, pred = [{"A"}, set()], [{"A"}, {"B"}]
    assert score_label_sets(gold, pred, LABELS)["macro_f"] == pytest.approx(0.2)
    assert macro_f1(matrix(gold)[None], matrix(pred)[None])[0] == pytest.approx(0.2)


def test_paired_bootstrap():
    rng = random.Random(1)
    gold = random_sets(rng, 200, 0.2)
    noisy = [random_sets(rng, 200, 0.2) for _ in range(3)]
    same_runs = [matrix(noisy[0])] * 3
    same = bootstrap_macro_f1(matrix(gold), same_runs, same_runs, 400, 0)
    assert same == {"mean": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_not_better": 1.0}
    better = [matrix([g if rng.random() < 0.7 else n for g, n in zip(gold, run)]) for run in noisy]
    result = bootstrap_macro_f1(matrix(gold), better, [matrix(n) for n in noisy], 400, 0)
    assert result["mean"] > 0.3 and result["ci_low"] > 0 and result["p_not_better"] == 0.0


def test_the_interval_holds_seed_variance():
    rng = random.Random(2)
    gold = random_sets(rng, 300, 0.3)
    steady = [matrix([g if rng.random() < 0.6 else set() for g in gold])] * 3
    varied = [matrix([g if rng.random() < share else set() for g in gold]) for share in (0.3, 0.6, 0.9)]
    width = {name: bootstrap_macro_f1(matrix(gold), runs, None, 600, 0) for name, runs in (("steady", steady), ("varied", varied))}
    assert (width["varied"]["ci_high"] - width["varied"]["ci_low"]) > 1.5 * (width["steady"]["ci_high"] - width["steady"]["ci_low"])
