"""Silver and bronze first, then gold? A dev-only probe (never test): per seed, train the default
architecture on the judged silver + bronze alone, then train it again from those weights (spaCy's
sourced component: `[components.ad_signs] source = ...`) on gold train, and on gold + silver + bronze,
each by the experiment's own `train_and_score` (thresholds chosen on dev). Compare with its one-stage runs on dev.
In a project after `weasel run judge` (or `published`):

    python benchmarks/two_stage.py --out benchmarks/results/two_stage_dev.json
"""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import srsly
import typer
from thinc.api import Config
from wasabi import msg

from ad_signs.readers import read_docs, write_docs
from ad_signs.training import train

spec = importlib.util.spec_from_file_location("experiment", Path(__file__).parents[1] / "scripts/experiment.py")
experiment = importlib.util.module_from_spec(spec)
sys.modules["experiment"] = experiment
spec.loader.exec_module(experiment)


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
            # the experiment's own run: train, thresholds on dev, scores (test = dev: nothing is read of test)
            run = experiment.train_and_score({
                "arch": "fast", "regime": regime, "seed": seed, "train_docs": None, "max_epochs": 0,
                "config": str(work / f"sourced_{seed}.cfg"), "train": str(data), "dev": str(dev), "test": str(dev),
                "output": str(work / f"{regime}_{seed}"), "stamp": experiment.fingerprint(work / f"sourced_{seed}.cfg", synthetic, data, dev, seed)})
            runs[f"{regime}-seed{seed}"] = {"macro_f": run["dev"]["macro_f"], "binary_f": run["dev"]["binary"]["f"]}
            msg.info(f"{regime}, seed {seed}: dev {runs[f'{regime}-seed{seed}']}")
    means = {regime: {key: float(np.mean([run[key] for name, run in runs.items() if name.startswith(regime + "-")]))
                      for key in ("macro_f", "binary_f")} for regime in ("gold", "gold_silver_bronze")}
    msg.table([(regime, f"{m['macro_f']:.3f}", f"{m['binary_f']:.3f}") for regime, m in means.items()],
              header=("second stage on", "dev macro F1", "dev binary F1"))
    if out:
        srsly.write_json(out, {"split": "dev", "config": str(config), "seeds": seeds, "means": means, "runs": runs})


if __name__ == "__main__":
    typer.run(main)
