"""Head settings of an encoder config, chosen on gold dev: train the config once per set of
overrides (`spacy train`, gold train), choose its thresholds on gold dev, and print dev macro F1
(what the choice is made on) next to test macro F1, the worst label's and binary F1 (to report,
never to choose on).

    python benchmarks/encoder_heads.py configs/train_accurate.cfg \
        '[{"training.optimizer.learn_rate": 0.05}, {"training.optimizer.learn_rate": 0.2}]'

Used for the learn rate, dropout, epochs and model-best score of configs/train_fast.cfg and
configs/train_accurate.cfg; appends to benchmarks/results/encoder_heads/<config>.jsonl.
"""
import json
from pathlib import Path

import numpy as np
import spacy
import srsly
import typer

from ad_signs.calibration import calibrate, gold_matrix, score_matrix
from ad_signs.encoders import encoding_cache
from ad_signs.metrics import per_label_f1
from ad_signs.readers import read_docs
from ad_signs.training import train


def macro(nlp, docs) -> tuple:
    """Macro F1, the worst label's F1 and the binary F1 (any label vs none) at the pipeline's thresholds."""
    component = nlp.get_pipe("ad_signs")
    labels = list(component.labels)
    decided = score_matrix(nlp, docs, labels) >= np.array([component.thresholds[label] for label in labels])
    gold = gold_matrix(docs, labels)
    f1 = per_label_f1(gold, decided)
    binary = per_label_f1(gold.any(1, keepdims=True), decided.any(1, keepdims=True))[0]
    return float(f1.mean()), float(f1.min()), float(binary)


def main(
    config: Path = typer.Argument(..., help="A training config with the ad_signs component"),
    grid: str = typer.Argument(..., help="JSON list of override dicts, one training run each"),
    corpus: Path = typer.Option(Path("corpus"), help="Folder with train/dev/test .spacy"),
    output: Path = typer.Option(Path("training/encoder_heads")),
    results: Path = typer.Option(Path("benchmarks/results/encoder_heads")),
):
    train_docs, dev, test = read_docs(corpus / "train.spacy"), read_docs(corpus / "dev.spacy"), read_docs(corpus / "test.spacy")
    results.mkdir(parents=True, exist_ok=True)
    rows, data = [], {"paths.train": corpus / "train.spacy", "paths.dev": corpus / "dev.spacy"}
    with encoding_cache():
        for i, overrides in enumerate(json.loads(grid)):
            out = output / config.stem / str(i)
            train(config, out, {**data, **overrides}, in_process=True)  # in the encoding cache; log: out/train.log
            calibrate(out / "model-best", dev)
            nlp = spacy.load(out / "model-best")
            (dev_f, dev_worst, dev_binary), (test_f, test_worst, test_binary) = macro(nlp, dev), macro(nlp, test)
            rows.append({"overrides": overrides, "train_docs": len(train_docs), "dev_docs": len(dev), "dev_macro_f": dev_f, "dev_worst_f": dev_worst, "dev_binary_f": dev_binary,
                         "test_macro_f": test_f, "test_worst_f": test_worst, "test_binary_f": test_binary})
            print(json.dumps(rows[-1]), flush=True)
            srsly.write_jsonl(results / f"{config.stem}.jsonl", rows[-1:], append=True, append_new_line=False)  # as each finishes


if __name__ == "__main__":
    typer.run(main)
