"""Decision thresholds chosen on gold dev, and how well the scores are calibrated.

`calibrate(model, dev_docs)` scores the dev sentences, chooses two operating points per label and
writes them into the pipeline's config (so `spacy.load(..., config=...)` can override them):
- "f1": the threshold with the best dev F1 (ties: the one nearest 0.5);
- "screening": the highest threshold whose dev recall is at least `screening_recall` (default
  0.9), and never above the "f1" one, for finding candidates to review rather than deciding.
Thresholds come from a grid (`GRID`), not from the dev scores themselves, so that a handful of
dev sentences cannot place a threshold exactly between two of their scores. The grid is even in
log-odds (0.018 ... 0.982), as fine for a rare label whose calibrated scores stay below 0.3 as
for a frequent one.
The Brier score and the reliability table say whether a score of 0.8 means 80 %.
"""
from pathlib import Path
from typing import Dict, List, Sequence, Union

import numpy

GRID = numpy.round(1 / (1 + numpy.exp(-numpy.arange(-4, 4.01, 0.25))), 4)
OPERATING_POINTS = ("f1", "screening")


def _counts(scores: numpy.ndarray, gold: numpy.ndarray, grid: numpy.ndarray):
    """True positives, predicted and gold positives at each threshold: arrays (thresholds,)."""
    decided = scores[None, :] >= grid[:, None]
    return (decided & gold[None, :]).sum(1), decided.sum(1), gold.sum()


def f1_threshold(scores: numpy.ndarray, gold: numpy.ndarray, grid: numpy.ndarray = GRID) -> float:
    tp, predicted, positives = _counts(scores, gold.astype(bool), grid)
    f1 = numpy.divide(2 * tp, predicted + positives, out=numpy.zeros(len(grid)), where=predicted + positives > 0)
    best = numpy.flatnonzero(numpy.isclose(f1, f1.max()))
    return float(grid[best[numpy.argmin(numpy.abs(grid[best] - 0.5))]])


def confidence_thresholds(scores: numpy.ndarray, gold: numpy.ndarray, labels: Sequence[str]) -> Dict[str, float]:
    """Per label, the lowest confidence at which keeping an LLM label gives the best dev F1
    (`scores`: the confidence of each label given, below 0 where it was not given; arrays
    (sentences, labels)). 0.0 keeps every label the LLM gave."""
    grid = numpy.concatenate([[0.0], GRID])
    thresholds = {}
    for j, label in enumerate(labels):
        tp, predicted, positives = _counts(scores[:, j], gold[:, j].astype(bool), grid)
        f1 = numpy.divide(2 * tp, predicted + positives, out=numpy.zeros(len(grid)), where=predicted + positives > 0)
        thresholds[label] = float(grid[numpy.flatnonzero(numpy.isclose(f1, f1.max()))[0]])
    return thresholds


def recall_threshold(scores: numpy.ndarray, gold: numpy.ndarray, recall: float, grid: numpy.ndarray = GRID) -> float:
    tp, _, positives = _counts(scores, gold.astype(bool), grid)
    reached = numpy.flatnonzero(tp >= recall * positives) if positives else numpy.arange(len(grid))
    return float(grid[reached.max()]) if len(reached) else float(grid[0])


def operating_points(scores: numpy.ndarray, gold: numpy.ndarray, labels: Sequence[str],
                     screening_recall: float = 0.9) -> Dict[str, Dict[str, float]]:
    """Both operating points for `scores` and `gold`, arrays (sentences, labels). Screening is
    never stricter than f1 (where the best-F1 threshold already has the recall, it is the same)."""
    f1 = {label: f1_threshold(scores[:, j], gold[:, j]) for j, label in enumerate(labels)}
    return {"f1": f1, "screening": {label: min(f1[label], recall_threshold(scores[:, j], gold[:, j], screening_recall))
                                    for j, label in enumerate(labels)}}


def brier(scores: numpy.ndarray, gold: numpy.ndarray) -> float:
    """Mean squared difference between score and outcome over every (sentence, label)."""
    return float(((scores - gold.astype(float)) ** 2).mean()) if scores.size else 0.0


def reliability(scores: numpy.ndarray, gold: numpy.ndarray, bins: int = 10) -> List[Dict]:
    """Per score bin: how many (sentence, label) pairs, their mean score and the share that is
    positive; with calibrated scores the two agree. Also the expected calibration error."""
    flat, outcome = scores.ravel(), gold.ravel().astype(float)
    which = numpy.minimum((flat * bins).astype(int), bins - 1)
    return [{"low": b / bins, "high": (b + 1) / bins, "n": int((which == b).sum()),
             "mean_score": float(flat[which == b].mean()) if (which == b).any() else None,
             "positive_share": float(outcome[which == b].mean()) if (which == b).any() else None}
            for b in range(bins)]


def expected_calibration_error(table: List[Dict]) -> float:
    total = sum(row["n"] for row in table)
    return float(sum(row["n"] * abs(row["mean_score"] - row["positive_share"]) for row in table if row["n"]) / total) if total else 0.0


def pr_curve(scores: numpy.ndarray, gold: numpy.ndarray, grid: numpy.ndarray = GRID) -> Dict[str, List[float]]:
    tp, predicted, positives = _counts(scores, gold.astype(bool), grid)
    precision = numpy.divide(tp, predicted, out=numpy.ones(len(grid)), where=predicted > 0)
    recall = tp / positives if positives else numpy.zeros(len(grid))
    return {"threshold": grid.tolist(), "precision": precision.tolist(), "recall": recall.tolist()}


def score_matrix(nlp, docs, labels: Sequence[str]) -> numpy.ndarray:
    """The pipeline's score for each label on each doc's text: an array (docs, labels)."""
    return numpy.array([[doc.cats[label] for label in labels] for doc in nlp.pipe(d.text for d in docs)]).reshape(-1, len(labels))


def gold_matrix(docs, labels: Sequence[str]) -> numpy.ndarray:
    return numpy.array([[doc.cats.get(label, 0.0) >= 0.5 for label in labels] for doc in docs], dtype=bool).reshape(-1, len(labels))


def calibrate(model: Union[str, Path], dev_docs, screening_recall: float = 0.9, component: str = "ad_signs") -> Dict:
    """Choose the operating points on `dev_docs` and write them into `model`'s config.cfg."""
    import spacy
    from spacy.util import load_config

    nlp = spacy.load(model)
    labels = list(nlp.get_pipe(component).labels)
    points = operating_points(score_matrix(nlp, dev_docs, labels), gold_matrix(dev_docs, labels), labels, screening_recall)
    config = load_config(Path(model) / "config.cfg")
    config["components"][component].update(operating_point="f1", operating_points=points)
    config.to_disk(Path(model) / "config.cfg")
    return points
