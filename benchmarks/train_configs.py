"""Training configs compared: train each on gold train, evaluate on gold test (CPU).

    HF_HUB_OFFLINE=1 python benchmarks/train_configs.py --configs cnn trf
For each config `configs/train_<name>.cfg`: `spacy train` wall time and steps (dev: gold dev,
model-best kept), then the project's `evaluate` on gold test (per-label P/R/F1, micro/macro/
binary F1, sentences per second over the test sentences, all in this one process) and the
model's size on disk. Writes benchmarks/results/train_configs.json and prints a table.
The trf config needs spacy-transformers and the local weights (see configs/train_trf.cfg).
"""
import argparse
import os
import time
from importlib import metadata
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from an installed package, never the hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import spacy  # noqa: E402
import srsly  # noqa: E402
from wasabi import msg  # noqa: E402

import ad_signs.transformer  # noqa: E402,F401  (registers ad_signs.minilm_path.v1 for spacy.load)
from ad_signs.metrics import evaluate_pipeline, format_table  # noqa: E402
from ad_signs.readers import read_docs  # noqa: E402
from ad_signs.training import TrainingError, logged_steps, train  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def timed_train(config: Path, output: Path, train_path: Path, dev_path: Path, seed: int, max_steps) -> dict:
    """`spacy train` wall time, steps and epochs (from its log, output.log) and dev macro F1."""
    overrides = {"paths.train": train_path, "paths.dev": dev_path, "system.seed": seed}
    if max_steps is not None:
        overrides["training.max_steps"] = max_steps
    log = output.with_suffix(".log")
    started = time.perf_counter()
    try:
        best = train(config, output, overrides, log=log)
    except TrainingError as err:
        msg.fail(str(err), exits=1)
    seconds = time.perf_counter() - started
    epoch, step = logged_steps(log)
    meta = srsly.read_json(best / "meta.json")
    return {"train_seconds": seconds, "steps": step, "epochs": epoch, "log": str(log),
            "dev_macro_f": meta["performance"].get("cats_macro_f")}


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def versions() -> dict:
    found = {}
    for package in ("spacy", "spacy-transformers", "transformers", "torch"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["cnn", "trf"], help="names of configs/train_<name>.cfg")
    parser.add_argument("--train", type=Path, default=Path("corpus/train.spacy"))
    parser.add_argument("--dev", type=Path, default=Path("corpus/dev.spacy"))
    parser.add_argument("--test", type=Path, default=Path("corpus/test.spacy"))
    parser.add_argument("--max-steps", type=int, default=None, help="override training.max_steps (e.g. a smoke run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", type=Path, default=Path("training/train_configs"), help="where the trained pipelines go")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/train_configs.json"))
    args = parser.parse_args()

    gold = read_docs(args.test)
    results = {}
    for name in args.configs:
        config = ROOT / f"configs/train_{name}.cfg"
        msg.info(f"{name}: training {config.name} on {args.train} ...")
        run = timed_train(config, args.models / name, args.train, args.dev, args.seed, args.max_steps)
        model = args.models / name / "model-best"
        scores = evaluate_pipeline(spacy.load(model), gold)  # the project's evaluation (as `ad_signs evaluate`)
        scores.pop("predictions")
        results[name] = {"config": str(config.relative_to(ROOT)), **run, "model_mb": size_mb(model), **scores}
        msg.table(format_table(scores), header=("label", "P", "R", "F1", "support"), divider=True)
        msg.good(f"{name}: {run['steps']} steps in {run['train_seconds']:.0f} s, test macro F1 {scores['macro_f']:.3f}")

    report = {"train": str(args.train), "dev": str(args.dev), "test": str(args.test), "seed": args.seed,
              "max_steps_override": args.max_steps, "cpus": os.cpu_count(), "versions": versions(), "configs": results}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(args.output, report)
    header = ("config", "train s", "steps", "micro F1", "macro F1", "binary F1", "sentences/s", "model MB")
    rows = [(name, f"{r['train_seconds']:.0f}", r["steps"], f"{r['micro_f']:.3f}", f"{r['macro_f']:.3f}",
             f"{r['binary']['f']:.3f}", f"{r['sentences_per_second']:.1f}", f"{r['model_mb']:.1f}")
            for name, r in results.items()]
    msg.table(rows, header=header, divider=True)
    msg.good(f"-> {args.output}")


if __name__ == "__main__":
    main()
