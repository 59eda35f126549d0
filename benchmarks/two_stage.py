"""Silver and bronze first, then gold? A dev-only probe (never test): per seed, train the default
architecture on the judged silver + bronze alone, then train it again from those weights (spaCy's
sourced component: `[components.ad_signs] source = ...`) on gold train, and on gold + silver + bronze;
thresholds chosen on dev as in the experiment. Compare with the experiment's one-stage runs on dev.
In a project after `weasel run judge` (or `published`):

    python benchmarks/two_stage.py --out benchmarks/results/two_stage_dev.json
"""
from pathlib import Path

import numpy as np
import spacy
import srsly
import typer
from thinc.api import Config
from wasabi import msg

from ad_signs.calibration import calibrate, gold_matrix, score_matrix
from ad_signs.metrics import score_label_sets
from ad_signs.readers import read_docs, write_docs
from ad_signs.training import train


def dev_scores(model: Path, dev: Path) -> dict:
    """Macro and binary F1 on dev at the thresholds `calibrate` chose there."""
    nlp = spacy.load(model)
    pipe = nlp.get_pipe("ad_signs")
    labels = list(pipe.labels)
    docs = read_docs(dev)
    decided = score_matrix(nlp, docs, labels) >= np.array([pipe.thresholds[label] for label in labels])
    as_sets = lambda matrix: [{label for label, on in zip(labels, row) if on} for row in matrix]  # noqa: E731
    metrics = score_label_sets(as_sets(gold_matrix(docs, labels)), as_sets(decided), labels)
    return {"macro_f": metrics["macro_f"], "binary_f": metrics["binary"]["f"]}


def main(config: Path = typer.Option(Path("configs/train_fast.cfg"), help="The default architecture"),
         silver: Path = typer.Option(Path("corpus/silver_judged.spacy")),
         bronze: Path = typer.Option(Path("corpus/bronze_judged.spacy")),
         gold: Path = typer.Option(Path("corpus/train.spacy")),
         dev: Path = typer.Option(Path("corpus/dev_all.spacy")),
         seeds: int = typer.Option(3, min=1),
         work: Path = typer.Option(Path("training/two_stage"), help="Folder for the runs"),
         out: Path = typer.Option(None, help="JSON to write")):
    work.mkdir(parents=True, exist_ok=True)
    synthetic, mixed = work / "silver_bronze.spacy", work / "gold_silver_bronze.spacy"
    write_docs(read_docs(silver) + read_docs(bronze), synthetic)
    write_docs(read_docs(gold) + read_docs(synthetic), mixed)
    runs = {}
    for seed in range(seeds):
        overrides = {"paths.dev": dev, "system.seed": seed}
        first = train(config, work / f"synthetic_{seed}", {**overrides, "paths.train": synthetic})
        sourced = Config().from_disk(config, interpolate=False)
        sourced["components"]["ad_signs"] = {"source": str(first)}
        sourced.to_disk(work / f"sourced_{seed}.cfg")
        for regime, data in (("gold", gold), ("gold_silver_bronze", mixed)):
            model = train(work / f"sourced_{seed}.cfg", work / f"{regime}_{seed}", {**overrides, "paths.train": data})
            calibrate(model, read_docs(dev))
            runs[f"{regime}-seed{seed}"] = dev_scores(model, dev)
            msg.info(f"{regime}, seed {seed}: dev {runs[f'{regime}-seed{seed}']}")
    means = {regime: {key: float(np.mean([run[key] for name, run in runs.items() if name.startswith(regime + "-")]))
                      for key in ("macro_f", "binary_f")} for regime in ("gold", "gold_silver_bronze")}
    msg.table([(regime, f"{m['macro_f']:.3f}", f"{m['binary_f']:.3f}") for regime, m in means.items()],
              header=("second stage on", "dev macro F1", "dev binary F1"))
    if out:
        srsly.write_json(out, {"split": "dev", "config": str(config), "seeds": seeds, "means": means, "runs": runs})


if __name__ == "__main__":
    typer.run(main)
