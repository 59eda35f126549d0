"""How small can the CNN be? Train size variants of configs/train_cnn.cfg (seeds × variants, two
`spacy train` at a time), pick by dev macro F1 (never test), and measure each one's throughput
against the bare tokenizer + sentence splitter in one run on the same notes.

    python benchmarks/cnn_width.py --train training/data/gold_silver_bronze.spacy --dev corpus/dev.spacy
Writes benchmarks/results/cnn_width.json. Trained models stay in --models: a rerun skips them.
"""
import statistics
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle, islice
from pathlib import Path

import spacy
import srsly
import typer
from wasabi import msg

from ad_signs.readers import read_records
from ad_signs.speed import throughput
from ad_signs.training import train

ROOT = Path(__file__).resolve().parent.parent
# name: (width, depth, maxout pieces) of the tok2vec (embed and encode)
VARIANTS = {"w96d2p3": (96, 2, 3), "w64d2p2": (64, 2, 2), "w64d1p2": (64, 1, 2),
            "w48d2p2": (48, 2, 2), "w48d1p2": (48, 1, 2), "w32d2p2": (32, 2, 2)}


def overrides(width: int, depth: int, pieces: int) -> dict:
    key = "components.ad_signs.model.tok2vec"
    return {f"{key}.embed.width": width, f"{key}.encode.width": width,
            f"{key}.encode.depth": depth, f"{key}.encode.maxout_pieces": pieces}


def train_variant(output: Path, train_path: Path, dev_path: Path, seed: int, settings: tuple) -> float:
    """Dev macro F1 of one variant and seed, trained unless its model is there (log: output/train.log)."""
    best = output / "model-best"
    if not (best / "meta.json").exists():
        train(ROOT / "configs/train_cnn.cfg", output, {"paths.train": train_path, "paths.dev": dev_path,
                                                        "system.seed": seed, **overrides(*settings)})
    return srsly.read_json(best / "meta.json")["performance"]["cats_macro_f"]


def main(
    train_path: Path = typer.Option(Path("training/data/gold_silver_bronze.spacy"), "--train"),
    dev_path: Path = typer.Option(Path("corpus/dev.spacy"), "--dev"),
    seeds: int = typer.Option(3),
    notes: Path = typer.Option(Path("assets/notes/sample_notes.jsonl")),
    n_notes: int = typer.Option(500, help="Notes for the speed runs (the sample notes, repeated)"),
    models: Path = typer.Option(Path("training/cnn_width")),
    out: Path = typer.Option(Path("benchmarks/results/cnn_width.json")),
):
    jobs = [(name, seed) for seed in range(seeds) for name in VARIANTS]
    with ThreadPoolExecutor(2) as pool:  # two single-threaded trainings on two cores
        dev_f = list(pool.map(lambda job: train_variant(models / job[0] / f"seed{job[1]}", train_path, dev_path,
                                                        job[1], VARIANTS[job[0]]), jobs))
    texts = [r.text for r in read_records(notes)]
    corpus = list(islice(cycle(texts), n_notes))
    bare = spacy.blank("en")
    bare.add_pipe("clinical_sentencizer")
    floor = throughput(bare, corpus, 1, 64)["sentences_per_second"]
    results = {}
    for name, settings in VARIANTS.items():
        scores = [f for (n, _), f in zip(jobs, dev_f) if n == name]
        speed = throughput(spacy.load(models / name / "seed0/model-best"), corpus, 1, 64)["sentences_per_second"]
        results[name] = {"width": settings[0], "depth": settings[1], "maxout_pieces": settings[2],
                         "dev_macro_f": scores, "dev_macro_f_mean": statistics.mean(scores),
                         "sentences_per_second": speed, "share_of_bare": speed / floor}
    srsly.write_json(out, {"train": str(train_path), "dev": str(dev_path), "seeds": seeds,
                           "bare_sentences_per_second": floor, "variants": results})
    msg.table([(name, f"{r['dev_macro_f_mean']:.3f}", " ".join(f"{f:.3f}" for f in r["dev_macro_f"]),
                f"{r['sentences_per_second']:.0f}", f"{r['share_of_bare']:.2f}") for name, r in results.items()],
              header=("variant", "dev macro F1", "per seed", "sentences/s", "share of bare"), divider=True)
    msg.good(f"-> {out}")


if __name__ == "__main__":
    typer.run(main)
