"""Would a "top label" rule lift binary recall? A sentence whose best score reaches a threshold T
gets its best label even below that label's own threshold. For each T of the calibration grid,
macro and binary F1 of a trained pipeline on dev (never test), against its own thresholds alone.

    python benchmarks/top_label_rule.py training/packages/en_ad_signs corpus/dev_all.spacy \
        --out benchmarks/results/top_label_rule.json
"""
import json
from pathlib import Path

import numpy
import spacy
import typer
from wasabi import msg

from ad_signs.calibration import GRID, gold_matrix, score_matrix
from ad_signs.metrics import score_label_sets
from ad_signs.readers import read_docs


def main(model: Path, dev: Path, out: Path = typer.Option(None, help="JSON to write")):
    nlp = spacy.load(model)
    pipe = nlp.get_pipe("ad_signs")
    labels = list(pipe.labels)
    docs = read_docs(dev)
    scores, gold = score_matrix(nlp, docs, labels), gold_matrix(docs, labels)
    decided = scores >= numpy.array([pipe.thresholds[label] for label in labels])
    gold_sets = [{label for label, on in zip(labels, row) if on} for row in gold]

    def scored(matrix):
        result = score_label_sets(gold_sets, [{label for label, on in zip(labels, row) if on} for row in matrix], labels)
        return {"macro_f": result["macro_f"], "binary_f": result["binary"]["f"], "binary_p": result["binary"]["p"],
                "binary_r": result["binary"]["r"]}

    rows = [{"top_label_threshold": None, **scored(decided)}]
    top = scores.argmax(1)
    for threshold in GRID[GRID < 0.6]:
        extra = decided.copy()
        empty = ~decided.any(1) & (scores.max(1) >= threshold)
        extra[numpy.flatnonzero(empty), top[empty]] = True
        rows.append({"top_label_threshold": float(threshold), **scored(extra)})
    msg.table([("off" if r["top_label_threshold"] is None else f"{r['top_label_threshold']:.3f}",
                *(f"{r[k]:.3f}" for k in ("macro_f", "binary_f", "binary_p", "binary_r"))) for r in rows],
              header=("T", "macro F1", "binary F1", "binary P", "binary R"), divider=True)
    if out:
        out.write_text(json.dumps({"model": str(model), "dev": str(dev), "rows": rows}, indent=1))


if __name__ == "__main__":
    typer.run(main)
