"""The paper's experiment: train the `ad_signs` classifier on each data regime with several seeds,
score every run on the gold test split, and test each regime against gold only with a paired
bootstrap.

    python scripts/experiment.py corpus training metrics/experiment --silver corpus/silver_filtered.spacy \
        --bronze corpus/bronze_filtered.spacy --seeds 3 --amounts 25,50

Regimes: gold, silver, bronze, gold+silver, gold+bronze, gold+silver+bronze, gold + bronze
before its filters (when given), and for the curve gold + the first A % of (shuffled) silver
and bronze for each amount A (0 % is gold only, 100 % is gold+silver+bronze). Each run is `python -m spacy train`, two at a time on 2 cores; a run
whose inputs did not change since it finished is not trained again, so an interrupted
experiment resumes. Writes one JSON per run (scores and per-sentence predictions) and
`summary.json` (mean and standard deviation over seeds, bootstrap against gold only).
"""
import hashlib
import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import spacy
import srsly
import typer
from spacy.tokens import DocBin
from tqdm import tqdm
from wasabi import msg

from ad_signs.corpus import read_docs
from ad_signs.metrics import evaluate_pipeline, label_set
from ad_signs.taxonomy import load_taxonomy

REGIMES = {
    "gold": ["train"],
    "silver": ["silver"],
    "bronze": ["bronze"],
    "gold_silver": ["train", "silver"],
    "gold_bronze": ["train", "bronze"],
    "gold_silver_bronze": ["train", "silver", "bronze"],
}
BASELINE = "gold"


def fingerprint(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.read_bytes() if isinstance(part, Path) else str(part).encode())
    return digest.hexdigest()


def write_regimes(sources: Dict[str, Path], out: Path, amounts: List[int], seed: int) -> Dict[str, tuple]:
    """One training DocBin per regime (and per curve amount) under `out`: {name: (path, stamp,
    size)}, the stamp naming the regime's inputs (a DocBin's bytes vary from one process to the
    next)."""
    out.mkdir(parents=True, exist_ok=True)
    docs = {name: read_docs(path) for name, path in sources.items()}
    recipes = {**REGIMES, **({"gold_bronze_unfiltered": ["train", "bronze_unfiltered"]} if "bronze_unfiltered" in docs else {})}
    regimes = {name: [doc for part in parts for doc in docs[part]] for name, parts in recipes.items()}
    stamps = {name: fingerprint(*[sources[part] for part in parts]) for name, parts in recipes.items()}
    for amount in amounts:
        sampled = []
        for part in ("silver", "bronze"):
            shuffled = docs[part][:]
            random.Random(seed).shuffle(shuffled)
            sampled += shuffled[: round(len(shuffled) * amount / 100)]
        name = f"gold_silver_bronze_{amount}pct"
        regimes[name] = docs["train"] + sampled
        stamps[name] = fingerprint(stamps["gold_silver_bronze"], amount, seed)
    paths = {}
    for name, regime_docs in regimes.items():
        paths[name] = (out / f"{name}.spacy", stamps[name], len(regime_docs))
        DocBin(docs=regime_docs, store_user_data=True).to_disk(paths[name][0])
    return paths


def train(config: Path, train_path: Path, data_stamp: str, dev: Path, output: Path, seed: int, max_epochs: int) -> Path:
    """Train one run unless a finished run with the same inputs exists; returns its model-best."""
    stamp = fingerprint(config, data_stamp, dev, seed, max_epochs)
    done = output / "fingerprint.txt"
    if done.exists() and done.read_text() == stamp and (output / "model-best").exists():
        return output / "model-best"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [sys.executable, "-m", "spacy", "train", str(config), "--output", str(output),
               "--paths.train", str(train_path), "--paths.dev", str(dev),
               "--system.seed", str(seed), "--training.max_epochs", str(max_epochs)]
    output.mkdir(parents=True, exist_ok=True)
    with (output / "train.log").open("w") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"Training failed ({' '.join(command)}); see {output / 'train.log'}")
    done.write_text(stamp)
    return output / "model-best"


def macro_f1(gold: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Macro F1 over labels for a batch of resamples: arrays (samples, sentences, labels) of 0/1."""
    tp = (gold & pred).sum(axis=1)
    fp = (~gold & pred).sum(axis=1)
    fn = (gold & ~pred).sum(axis=1)
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros(tp.shape), where=denominator > 0)
    return f1.mean(axis=1)


def paired_bootstrap(gold: np.ndarray, runs_a: List[np.ndarray], runs_b: List[np.ndarray],
                     samples: int, seed: int) -> Dict[str, float]:
    """Macro F1 of regime a minus regime b (each averaged over its seeds) on resampled test sets."""
    rng = np.random.default_rng(seed)
    diffs = []
    for chunk in np.array_split(np.arange(samples), max(1, samples // 200)):
        idx = rng.integers(0, len(gold), size=(len(chunk), len(gold)))
        mean_a = np.mean([macro_f1(gold[idx], run[idx]) for run in runs_a], axis=0)
        mean_b = np.mean([macro_f1(gold[idx], run[idx]) for run in runs_b], axis=0)
        diffs.append(mean_a - mean_b)
    diff = np.concatenate(diffs)
    return {"mean_diff": float(diff.mean()), "ci_low": float(np.percentile(diff, 2.5)),
            "ci_high": float(np.percentile(diff, 97.5)), "p_not_better": float((diff <= 0).mean())}


def summarize(runs: Dict[str, List[Dict]], gold: np.ndarray, labels: List[str], samples: int, seed: int) -> Dict:
    def matrix(run):
        return np.array([[label in p for label in labels] for p in run["predictions"]])

    summary = {}
    for regime, regime_runs in runs.items():
        stats = {}
        for key in ("micro_f", "macro_f"):
            values = [r[key] for r in regime_runs]
            stats[key] = {"mean": float(np.mean(values)), "std": float(np.std(values)), "runs": values}
        stats["sentences_per_second"] = float(np.mean([r["sentences_per_second"] for r in regime_runs]))
        binary = [r["binary"]["f"] for r in regime_runs]
        stats["binary_f"] = {"mean": float(np.mean(binary)), "std": float(np.std(binary)), "runs": binary}
        stats["per_label"] = {label: {m: float(np.mean([r["per_label"][label][m] for r in regime_runs]))
                                      for m in ("p", "r", "f")} | {"support": regime_runs[0]["per_label"][label]["support"]}
                              for label in labels}
        if regime != BASELINE:
            stats["vs_gold"] = paired_bootstrap(gold, [matrix(r) for r in regime_runs],
                                                [matrix(r) for r in runs[BASELINE]], samples, seed)
        summary[regime] = stats
    return summary


def main(
    corpus: Path = typer.Argument(..., help="Folder with train/dev/test .spacy (gold)"),
    training: Path = typer.Argument(..., help="Folder for the trained runs"),
    output: Path = typer.Argument(..., help="Folder for per-run metrics and summary.json"),
    silver: Path = typer.Option(..., help="Silver DocBin"),
    bronze: Path = typer.Option(..., help="Bronze DocBin"),
    unfiltered_bronze: Optional[Path] = typer.Option(None, help="Bronze before the filters: adds the regime gold_bronze_unfiltered"),
    config: Path = typer.Option(Path("configs/train_cnn.cfg"), help="Training config"),
    seeds: int = typer.Option(3, help="Seeds per regime (0, 1, ...)"),
    amounts: str = typer.Option("25,50", help="Curve: percentages of silver and bronze added to gold"),
    max_epochs: int = typer.Option(30, help="Training epochs per run"),
    jobs: int = typer.Option(2, help="Runs trained at once (one core each)"),
    bootstrap: int = typer.Option(2000, help="Bootstrap resamples"),
    seed: int = typer.Option(0, help="Seed of the curve's subsampling and of the bootstrap"),
):
    amount_list = [int(a) for a in amounts.split(",") if a.strip()]
    sources = {"train": corpus / "train.spacy", "silver": silver, "bronze": bronze}
    if unfiltered_bronze:
        sources["bronze_unfiltered"] = unfiltered_bronze
    regimes = write_regimes(sources, training / "data", amount_list, seed)
    plan = [(name, s) for name in regimes for s in range(seeds)]
    with ThreadPoolExecutor(jobs) as pool, tqdm(total=len(plan), desc="training runs", unit="run") as bar:
        def run(item):
            name, s = item
            path, stamp, _ = regimes[name]
            model = train(config, path, stamp, corpus / "dev.spacy", training / name / f"seed{s}", s, max_epochs)
            bar.update(1)
            return item, model
        models = dict(pool.map(run, plan))

    labels = load_taxonomy().labels
    test_docs = read_docs(corpus / "test.spacy")
    gold = np.array([[label in label_set(doc) for label in labels] for doc in test_docs])
    runs: Dict[str, List[Dict]] = {name: [] for name in regimes}
    (output / "runs").mkdir(parents=True, exist_ok=True)
    for (name, s), model in tqdm(models.items(), desc="evaluating", unit="run"):
        scores = evaluate_pipeline(spacy.load(model), test_docs)
        scores.update({"regime": name, "seed": s, "train_docs": regimes[name][2]})
        srsly.write_json(output / "runs" / f"{name}-seed{s}.json", scores)
        runs[name].append(scores)
    summary = summarize(runs, gold, labels, bootstrap, seed)
    for name, stats in summary.items():
        stats["train_docs"] = regimes[name][2]
    srsly.write_json(output / "summary.json", {"labels": labels, "seeds": seeds, "amounts": amount_list,
                                               "config": str(config), "max_epochs": max_epochs, "regimes": summary})
    rows = [(name, s["train_docs"], f"{s['macro_f']['mean']:.3f} ± {s['macro_f']['std']:.3f}",
             f"{s['micro_f']['mean']:.3f}", f"{s['binary_f']['mean']:.3f}",
             f"{s['vs_gold']['mean_diff']:+.3f} (p={s['vs_gold']['p_not_better']:.3f})" if "vs_gold" in s else "")
            for name, s in summary.items()]
    msg.table(rows, header=("regime", "train docs", "macro F1", "micro F1", "binary F1", "vs gold"), divider=True)


if __name__ == "__main__":
    typer.run(main)
