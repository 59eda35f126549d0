"""Thresholds chosen on dev and the calibration measures, on data whose answer is known."""
import numpy as np
import pytest

from ad_signs.calibration import (
    GRID,
    brier,
    expected_calibration_error,
    f1_threshold,
    operating_points,
    pr_curve,
    recall_threshold,
    reliability,
)


def test_f1_threshold_separates_what_can_be_separated():
    scores = np.array([0.1, 0.2, 0.3, 0.62, 0.7, 0.9])
    gold = np.array([0, 0, 0, 1, 1, 1])
    assert f1_threshold(scores, gold) in {0.35, 0.4, 0.45, 0.5, 0.55, 0.6}
    assert f1_threshold(scores, gold) == 0.5  # of the equally good thresholds, the one nearest 0.5


def test_recall_threshold_is_the_highest_that_keeps_the_recall():
    scores = np.array([0.05, 0.12, 0.33, 0.41, 0.58, 0.77, 0.91, 0.2, 0.6, 0.8])
    gold = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 0], dtype=bool)
    t = recall_threshold(scores, gold, 0.8)
    assert ((scores >= t) & gold).sum() >= 0.8 * gold.sum()
    next_up = GRID[np.searchsorted(GRID, t) + 1]  # the grid's next, stricter threshold loses the recall
    assert ((scores >= next_up) & gold).sum() < 0.8 * gold.sum()
    assert recall_threshold(scores, gold, 1.0) == GRID[4] <= 0.05 < GRID[5]  # the highest that keeps 0.05


def test_operating_points_cover_every_label_and_screening_is_not_stricter():
    rng = np.random.default_rng(0)
    gold = rng.random((300, 3)) < 0.2
    scores = np.clip(gold * 0.4 + rng.random((300, 3)) * 0.6, 0, 1)
    points = operating_points(scores, gold, ["A", "B", "C"])
    assert set(points) == {"f1", "screening"} and all(set(p) == {"A", "B", "C"} for p in points.values())
    assert all(points["screening"][label] <= points["f1"][label] for label in "ABC")


def test_brier_and_reliability():
    gold = np.array([[1, 0], [0, 0], [1, 1], [0, 1]], dtype=bool)
    assert brier(gold.astype(float), gold) == 0.0
    assert brier(np.full(gold.shape, 0.5), gold) == pytest.approx(0.25)
    table = reliability(np.array([[0.95, 0.05], [0.05, 0.05], [0.95, 0.95], [0.05, 0.95]]), gold)
    assert sum(row["n"] for row in table) == 8
    assert expected_calibration_error(table) == pytest.approx(0.05)
    curve = pr_curve(np.array([0.9, 0.8, 0.1]), np.array([1, 0, 1]))
    assert curve["recall"][0] == 1.0 and curve["precision"][-1] == 1.0
