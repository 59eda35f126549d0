"""Multi-label metrics on label sets: per-label P/R/F1, micro and macro F1, and the binary view
(any AD label vs none) that the paper reports; vectorised on boolean arrays, the macro F1 of many
resamples at once and the paired bootstrap over sentences and seeds (scripts/experiment.py)."""
import time
from typing import Dict, Iterable, List, Optional, Sequence, Set

import numpy
from spacy.language import Language
from spacy.tokens import Doc


def _prf(tp: int, fp: int, fn: int) -> Dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"p": p, "r": r, "f": 2 * p * r / (p + r) if p + r else 0.0, "support": tp + fn}


def score_label_sets(gold: Sequence[Set[str]], pred: Sequence[Set[str]], labels: Sequence[str]) -> Dict:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold vs {len(pred)} predicted label sets")
    per_label = {}
    totals = [0, 0, 0]
    for label in labels:
        tp = sum(label in g and label in p for g, p in zip(gold, pred))
        fp = sum(label not in g and label in p for g, p in zip(gold, pred))
        fn = sum(label in g and label not in p for g, p in zip(gold, pred))
        per_label[label] = _prf(tp, fp, fn)
        totals = [totals[0] + tp, totals[1] + fp, totals[2] + fn]
    binary_tp = sum(bool(g) and bool(p) for g, p in zip(gold, pred))
    binary_fp = sum(not g and bool(p) for g, p in zip(gold, pred))
    binary_fn = sum(bool(g) and not p for g, p in zip(gold, pred))
    return {
        "per_label": per_label,
        "micro": _prf(*totals),
        "micro_f": _prf(*totals)["f"],
        "macro_f": sum(v["f"] for v in per_label.values()) / len(labels) if labels else 0.0,
        "binary": _prf(binary_tp, binary_fp, binary_fn),
        "exact_match": sum(g == p for g, p in zip(gold, pred)) / len(gold) if gold else 0.0,
        "n": len(gold),
    }


def format_table(scores: Dict) -> List[tuple]:
    rows = [(label, f"{v['p']:.2f}", f"{v['r']:.2f}", f"{v['f']:.2f}", v["support"]) for label, v in scores["per_label"].items()]
    rows.append(("micro", "", "", f"{scores['micro_f']:.2f}", ""))
    rows.append(("macro", "", "", f"{scores['macro_f']:.2f}", ""))
    b = scores["binary"]
    rows.append(("binary (any vs none)", f"{b['p']:.2f}", f"{b['r']:.2f}", f"{b['f']:.2f}", b["support"]))
    return rows


NO_LABEL = "(none)"  # a sentence with no label, where label counts are shown


def label_set(doc: Doc, threshold: float = 0.5) -> Set[str]:
    return {label for label, score in doc.cats.items() if score >= threshold}


def evaluate_pipeline(nlp: Language, gold: Sequence[Doc], threshold: Optional[float] = None) -> Dict:
    """Score a trained `ad_signs` pipeline on gold sentence docs; keeps each sentence's prediction."""
    component = nlp.get_pipe("ad_signs")
    cutoffs = component.thresholds if threshold is None else {label: threshold for label in component.labels}
    started = time.perf_counter()
    predicted = [{label for label, score in doc.cats.items() if score >= cutoffs[label]} for doc in nlp.pipe(doc.text for doc in gold)]
    seconds = time.perf_counter() - started
    scores = score_label_sets([label_set(doc) for doc in gold], predicted, list(component.labels))
    scores.update({"thresholds": cutoffs, "sentences_per_second": len(gold) / seconds if seconds else 0.0,
                   "predictions": [sorted(p) for p in predicted]})
    return scores


def evaluate_predictions(predicted: Iterable[Doc], gold: Sequence[Doc], labels: Sequence[str]) -> Dict:
    """Score predicted docs (e.g. the LLM's labels) against gold docs, matched by text. A gold
    sentence without a prediction (an LLM answer that was rejected) counts as predicting nothing,
    and is counted in `missing`."""
    from .llm.label_task import CONFIDENCE_KEY

    predicted = list(predicted)
    by_text = {doc.text: label_set(doc) for doc in predicted}
    gold_sets = [label_set(doc) for doc in gold]
    scores = score_label_sets(gold_sets, [by_text.get(doc.text, set()) for doc in gold], labels)
    scores.update({"missing": sum(doc.text not in by_text for doc in gold),
                   "predictions": [sorted(by_text.get(doc.text, set())) for doc in gold]})
    confidence = {doc.text: doc.user_data[CONFIDENCE_KEY] for doc in predicted if CONFIDENCE_KEY in doc.user_data}
    if confidence:
        scores["confidence"] = score_confidence(confidence, by_text, gold_sets, [doc.text for doc in gold], labels)
    return scores


def score_confidence(confidence: Dict[str, Dict[str, float]], chosen: Dict[str, Set[str]], gold: Sequence[Set[str]],
                     texts: Sequence[str], labels: Sequence[str]) -> Dict:
    """Per-label thresholds on the LLM's confidence in the labels it gave, chosen for dev F1
    (`calibration.confidence_thresholds`), and the scores of the labels kept at them."""
    from .calibration import confidence_thresholds

    scored = [i for i, text in enumerate(texts) if text in confidence]
    matrix = numpy.array([[confidence[texts[i]][label] if label in chosen[texts[i]] else -1.0 for label in labels]
                          for i in scored])  # -1: not given, never kept
    truth = numpy.array([[label in gold[i] for label in labels] for i in scored])
    thresholds = confidence_thresholds(matrix, truth, labels)
    kept = [{label for j, label in enumerate(labels) if row[j] >= thresholds[label]} for row in matrix]
    return {"thresholds": thresholds, "sentences": len(scored),
            "at_thresholds": score_label_sets([gold[i] for i in scored], kept, labels)}


# --- vectorised: label sets as boolean arrays (..., sentences, labels), for resampling ------------

def per_label_f1(gold: numpy.ndarray, pred: numpy.ndarray) -> numpy.ndarray:
    """Each label's F1 over the sentences axis: arrays (..., sentences, labels) -> (..., labels).
    0 for a label neither in gold nor predicted, as in `score_label_sets`."""
    tp = (gold & pred).sum(axis=-2)
    denominator = 2 * tp + (~gold & pred).sum(axis=-2) + (gold & ~pred).sum(axis=-2)
    return numpy.divide(2 * tp, denominator, out=numpy.zeros(tp.shape), where=denominator > 0)


def macro_f1(gold: numpy.ndarray, pred: numpy.ndarray) -> numpy.ndarray:
    """`score_label_sets`' macro F1 for a batch of resamples: arrays (samples, sentences, labels) -> (samples,)."""
    return per_label_f1(gold, pred).mean(axis=-1)


def _resampled_macro_f1(gold: numpy.ndarray, runs: List[numpy.ndarray], idx: numpy.ndarray,
                        rng: numpy.random.Generator) -> numpy.ndarray:
    """Macro F1 on each resample of sentences, averaged over a resample (with replacement) of the runs."""
    picks = rng.integers(0, len(runs), size=(len(idx), len(runs)))
    per_run = numpy.stack([macro_f1(gold[idx], run[idx]) for run in runs], axis=1)  # (samples, runs)
    return numpy.take_along_axis(per_run, picks, axis=1).mean(axis=1)


def bootstrap_macro_f1(gold: numpy.ndarray, runs: List[numpy.ndarray], baseline: Optional[List[numpy.ndarray]],
                       samples: int = 2000, seed: int = 0) -> Dict[str, float]:
    """Macro F1 of `runs` (or `runs` minus `baseline`: paired, on the same resamples), each averaged
    over its seeds (one array (sentences, labels) per seed), on test sets resampled by sentence with
    the seeds resampled too: the 95 % interval holds both sources of variance. With a baseline,
    `p_not_better` is the share of resamples where `runs` do not beat it."""
    rng = numpy.random.default_rng(seed)
    values = []
    for chunk in numpy.array_split(numpy.arange(samples), max(1, samples // 200)):
        idx = rng.integers(0, len(gold), size=(len(chunk), len(gold)))
        value = _resampled_macro_f1(gold, runs, idx, rng)
        values.append(value - _resampled_macro_f1(gold, baseline, idx, rng) if baseline is not None else value)
    values = numpy.concatenate(values)
    out = {"mean": float(values.mean()), "ci_low": float(numpy.percentile(values, 2.5)),
           "ci_high": float(numpy.percentile(values, 97.5))}
    if baseline is not None:
        out["p_not_better"] = float((values <= 0).mean())
    return out
