"""The experiment's statistics: vectorized macro F1 equals the metrics module's; the paired
bootstrap says 'no difference' for identical runs and 'better' for a clearly better one."""
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
    same = experiment.paired_bootstrap(matrix(gold), [matrix(n) for n in noisy], [matrix(n) for n in noisy], 400, 0)
    assert same == {"mean_diff": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_not_better": 1.0}
    better = [matrix([g if rng.random() < 0.7 else n for g, n in zip(gold, run)]) for run in noisy]
    result = experiment.paired_bootstrap(matrix(gold), better, [matrix(n) for n in noisy], 400, 0)
    assert result["mean_diff"] > 0.3 and result["ci_low"] > 0 and result["p_not_better"] == 0.0
