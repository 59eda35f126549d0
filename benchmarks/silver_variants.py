"""Which version of silver to add to gold? A dev-only probe (never test): for each variant, train
the default architecture on gold train + that DocBin with the experiment's own `train_and_score`
(thresholds chosen on dev), and report dev macro and binary F1 per seed.

    python -m ad_signs filter corpus/silver.spacy corpus/silver_unknown.spacy --filters duplicates \
        --gold corpus/train.spacy --gold corpus/dev.spacy --gold corpus/test.spacy \
        --confidence metrics/llm_dev.json --unconfident unknown
    python -m ad_signs filter corpus/silver.spacy corpus/silver_balanced.spacy --filters duplicates \
        --gold corpus/train.spacy --gold corpus/dev.spacy --gold corpus/test.spacy \
        --confidence metrics/llm_dev.json --unlabelled-share 0.4
    python benchmarks/silver_variants.py --variant absent=corpus/silver_filtered.spacy \
        --variant unknown=corpus/silver_unknown.spacy --variant balanced=corpus/silver_balanced.spacy --seeds 2
(corpus/silver_filtered.spacy as the `filter` step wrote it before `--unlabelled-share` was its default.)
Soft targets (each label the LLM's confidence; results/silver_soft_targets.json):

    python -m ad_signs filter corpus/silver.spacy corpus/silver_soft.spacy --filters duplicates \
        --gold corpus/train.spacy --gold corpus/dev.spacy --gold corpus/test.spacy --soft --unlabelled-share 0.4
    python benchmarks/silver_variants.py --variant balanced=corpus/silver_balanced.spacy \
        --variant soft=corpus/silver_soft.spacy --seeds 2 --out benchmarks/results/silver_soft_targets.json
"""
import importlib.util
import statistics
import sys
from pathlib import Path
from typing import List

import srsly
import typer
from wasabi import msg

from ad_signs.encoders import encoding_cache
from ad_signs.readers import read_docs, write_docs

spec = importlib.util.spec_from_file_location("experiment", Path(__file__).parents[1] / "scripts/experiment.py")
experiment = importlib.util.module_from_spec(spec)
sys.modules["experiment"] = experiment  # its runs are pickled to forked workers by module name
spec.loader.exec_module(experiment)


def main(variant: List[str] = typer.Option(..., help="NAME=DOCBIN, repeatable: a silver to add to gold train"),
         gold: Path = typer.Option(Path("corpus/train.spacy"), exists=True, dir_okay=False),
         dev: Path = typer.Option(Path("corpus/dev_all.spacy"), exists=True, dir_okay=False),
         config: Path = typer.Option(Path("configs/train_fast.cfg"), exists=True, dir_okay=False),
         seeds: int = typer.Option(2, min=1),
         work: Path = typer.Option(Path("training/silver_variants")),
         out: Path = typer.Option(Path("benchmarks/results/silver_variants.json"))):
    variants = experiment.parse_architectures(variant, "--variant", "unknown=corpus/silver_unknown.spacy")
    jobs = []
    for name, path in variants.items():
        docs = read_docs(gold) + read_docs(path)
        write_docs(docs, work / name / "train.spacy")
        jobs += [{"arch": "fast", "regime": name, "seed": seed, "train_docs": len(docs), "config": str(config),
                  "train": str(work / name / "train.spacy"), "dev": str(dev), "test": str(dev), "max_epochs": 0,
                  "output": str(work / name / f"seed{seed}"),
                  "stamp": experiment.fingerprint(config, work / name / "train.spacy", dev, seed)} for seed in range(seeds)]
    texts = [doc.text for path in [gold, dev, *variants.values()] for doc in read_docs(path)]
    with encoding_cache():
        experiment.prepare_encodings(config, texts)
        runs = experiment.run_all(jobs, 2)
    results = {}
    for name in variants:
        mine = sorted((r for r in runs if r["regime"] == name), key=lambda r: r["seed"])
        results[name] = {"silver": str(variants[name]), "train_docs": mine[0]["train_docs"],
                         "dev_macro_f": [round(r["dev"]["macro_f"], 4) for r in mine],
                         "dev_binary_f": [round(r["dev"]["binary"]["f"], 4) for r in mine]}
        results[name]["dev_macro_f_mean"] = round(statistics.mean(results[name]["dev_macro_f"]), 4)
    msg.table([(n, r["train_docs"], r["dev_macro_f_mean"], " ".join(map(str, r["dev_macro_f"]))) for n, r in results.items()],
              header=("variant", "train", "dev macro F1", "per seed"), divider=True)
    srsly.write_json(out, {"dev": str(dev), "config": str(config), "variants": results})


if __name__ == "__main__":
    typer.run(main)
