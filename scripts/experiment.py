"""The paper's experiment, for several classifier architectures: train the `ad_signs` component on
each data regime with several seeds, choose its decision thresholds on dev (gold dev, or with
`--dev` a wider one, e.g. gold dev + authored whole notes), score it on the gold test split, and
compare regimes and architectures with a bootstrap over test sentences *and*
seeds.

    python scripts/experiment.py corpus training metrics/experiment --silver corpus/silver_filtered.spacy \
        --bronze corpus/bronze_filtered.spacy --arch fast=configs/train_fast.cfg --arch cnn=configs/train_cnn.cfg

Regimes: gold, silver, bronze, gold+silver, gold+bronze, gold+silver+bronze, gold + bronze before
its filters (when given), for the curve gold + the first A % of (shuffled) silver and bronze, and
(with `--scarce N`) the paper's scarce setting: the first N gold train sentences, alone and with
silver and bronze.
The first architecture (the default) trains every regime; the others train gold only and the
augmented regime that scored best for the default on dev. Each run is `spacy train` in a process
forked from this one, two at a time on 2 cores; a frozen encoder encodes every distinct sentence
once, here, before the fork, and every run reuses it (`ad_signs.encoders.encoding_cache`). A run
whose inputs did not change since it finished is not trained again, so an interrupted experiment
resumes. Writes one JSON per run (scores and per-sentence test scores), `summary.json`, and the
chosen pipelines under `TRAINING/packages/` (the default: the best on dev macro F1 among the
architectures that reach `--speed-floor` sentences per second; `_trf`: the accurate one's best).
"""
import hashlib
import json
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import spacy
import typer
from tqdm import tqdm
from wasabi import msg

from ad_signs.atomic import write_json
from ad_signs.calibration import brier, calibrate, gold_matrix, score_matrix
from ad_signs.metrics import bootstrap_macro_f1, score_label_sets
from ad_signs.readers import read_docs, write_docs
from ad_signs.taxonomy import load_taxonomy
from ad_signs.training import train

REGIMES = {
    "gold": ["train"],
    "silver": ["silver"],
    "bronze": ["bronze"],
    "gold_silver": ["train", "silver"],
    "gold_bronze": ["train", "bronze"],
    "gold_silver_bronze": ["train", "silver", "bronze"],
}
# How the report and the model cards name each regime (written into summary.json).
REGIME_NAMES = {"gold": "gold", "silver": "silver only", "bronze": "bronze only", "gold_silver": "gold + silver",
                "gold_bronze": "gold + bronze", "gold_silver_bronze": "gold + silver + bronze",
                "gold_bronze_unfiltered": "gold + bronze before the filters", "scarce_gold": "scarce gold (round 1 only)",
                "scarce_gold_silver_bronze": "scarce gold + silver + bronze"}
BASELINE = "gold"
SCARCE = "scarce_gold"
AUGMENTED = ("gold_silver", "gold_bronze", "gold_silver_bronze")
PACKAGES = {"default": "en_ad_signs", "accurate": "en_ad_signs_trf"}

def regime_name(regime: str) -> str:
    """gold_silver_bronze_25pct: 'gold + silver + bronze, 25 %'."""
    return REGIME_NAMES.get(regime, regime.replace("gold_silver_bronze_", "gold + silver + bronze, ").replace("pct", " %"))


# Peak RSS of loading a pipeline and annotating notes, in a fresh interpreter.
MEMORY_PROBE = """
import json, re, sys
import spacy
nlp = spacy.load(sys.argv[1])
for doc in nlp.pipe(json.loads(sys.argv[2])):
    pass
print(int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) / 1024)
"""


def fingerprint(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.read_bytes() if isinstance(part, Path) else str(part).encode())
    return digest.hexdigest()


def content_fingerprint(docs) -> str:
    """What training reads from docs, in order: each text and its labels. A DocBin's bytes vary
    from one process to the next (its string table is a set), so a step that writes the same
    sentences again must not make every run train again."""
    return fingerprint(*(json.dumps([doc.text, sorted(doc.cats.items())]) for doc in docs))


def write_regimes(sources: Dict[str, Path], out: Path, amounts: List[int], seed: int, scarce: int = 0,
                  gold_weight: int = 1) -> Dict[str, tuple]:
    """One training DocBin per regime (and per curve amount) under `out`: {name: (path, stamp,
    size)}, the stamp naming the regime's inputs by what training reads of them
    (`content_fingerprint`). `scarce` > 0 adds the paper's setting: the first `scarce` gold train sentences alone
    and with silver and bronze: the sources `scarce_silver` and `scarce_bronze` if given (chosen
    by a judge that saw only the scarce gold), else silver and bronze; a judge that kept none of
    one is warned about, not an error (the regime then has less). In a regime that mixes gold with silver or bronze, each gold
    sentence appears `gold_weight` times (the weight of gold against the synthetic data)."""
    out.mkdir(parents=True, exist_ok=True)
    docs = {name: read_docs(path) for name, path in sources.items()}
    empty = [str(sources[name]) for name, part in docs.items() if not part and not name.startswith("scarce_")]
    if empty:
        raise ValueError(f"No sentences in {', '.join(empty)}: every regime needs data (label or generate more, or loosen the filters).")
    for name in (name for name, part in docs.items() if not part):
        msg.warn(f"No sentences in {sources[name]}: the scarce judge kept none; scarce_gold_silver_bronze has no {name[7:]}.")
    recipes = {**REGIMES, **({"gold_bronze_unfiltered": ["train", "bronze_unfiltered"]} if "bronze_unfiltered" in docs else {})}
    if "bronze_alone" in docs:
        recipes["bronze"] = ["bronze_alone"]
    if scarce:
        docs["scarce"] = docs["train"][:scarce]
        recipes.update(scarce_gold=["scarce"], scarce_gold_silver_bronze=[
            "scarce", *(f"scarce_{part}" if f"scarce_{part}" in docs else part for part in ("silver", "bronze"))])

    def weighted(parts: List[str]) -> bool:  # a mixture: gold (or scarce gold) with silver or bronze
        return gold_weight > 1 and len(parts) > 1

    regimes = {name: [doc for part in parts for doc in docs[part] * (gold_weight if weighted(parts) and part in ("train", "scarce") else 1)]
               for name, parts in recipes.items()}
    inputs = {**{part: [content_fingerprint(part_docs)] for part, part_docs in docs.items()},
              "scarce": [content_fingerprint(docs["train"]), f"first {scarce}"]}
    stamps = {name: fingerprint(*[x for part in parts for x in inputs[part]], *([f"gold x{gold_weight}"] if weighted(parts) else []))
              for name, parts in recipes.items()}
    for amount in amounts:
        sampled = []
        for part in ("silver", "bronze"):
            shuffled = docs[part][:]
            random.Random(seed).shuffle(shuffled)
            sampled += shuffled[: round(len(shuffled) * amount / 100)]
        name = f"gold_silver_bronze_{amount}pct"
        regimes[name] = docs["train"] * gold_weight + sampled
        stamps[name] = fingerprint(stamps["gold_silver_bronze"], amount, seed)
    paths = {}
    for name, regime_docs in regimes.items():
        paths[name] = (out / f"{name}.spacy", stamps[name], len(regime_docs))
        write_docs(regime_docs, paths[name][0])
    return paths


# --- one run ---------------------------------------------------------------------------------------

def train_and_score(job: Dict) -> Dict:
    """Train one run (unless a finished run with the same inputs exists), choose its thresholds on
    dev, score it on dev and test. Runs in a forked process: `spacy train` logs to its train.log."""
    output = Path(job["output"])
    done, model, timing = output / "fingerprint.txt", output / "model-best", output / "train_seconds.txt"
    if not (done.exists() and done.read_text() == job["stamp"] and model.exists()):
        overrides = {"paths.train": job["train"], "paths.dev": job["dev"], "system.seed": job["seed"]}
        if job["max_epochs"]:
            overrides["training.max_epochs"] = job["max_epochs"]
        started = time.perf_counter()
        train(Path(job["config"]), output, overrides, in_process=True)  # inherits the forked encoding cache
        shutil.rmtree(output / "model-last")  # never read, and a copy of the frozen encoders (~115 MB a run)
        calibrate(model, read_docs(job["dev"]))
        timing.write_text(f"{time.perf_counter() - started:.1f}")  # training + thresholds, beside another run
        done.write_text(job["stamp"])
    nlp = spacy.load(model)
    labels = list(nlp.get_pipe("ad_signs").labels)
    thresholds = nlp.get_pipe("ad_signs").thresholds
    result = {key: job[key] for key in ("arch", "regime", "seed", "train_docs")}
    result["train_seconds"] = float(timing.read_text()) if timing.exists() else None
    for split in ("dev", "test"):
        docs = read_docs(job[split])
        scores = score_matrix(nlp, docs, labels)
        gold = gold_matrix(docs, labels)
        decided = scores >= np.array([thresholds[label] for label in labels])
        sets = [{label for label, on in zip(labels, row) if on} for row in decided]
        metrics = score_label_sets([{label for label, on in zip(labels, row) if on} for row in gold], sets, labels)
        metrics.update(brier=brier(scores, gold), scores=np.round(scores, 4).tolist(), gold=gold.astype(int).tolist(),
                       predictions=[sorted(s) for s in sets])
        result[split] = metrics
    for name, path in job.get("external", {}).items():  # other authors' sentences: scored, never tuned on
        docs = read_docs(path)
        decided = score_matrix(nlp, docs, labels) >= np.array([thresholds[label] for label in labels])
        sets = [{label for label, on in zip(labels, row) if on} for row in decided]
        result.setdefault("external", {})[name] = score_label_sets(
            [{label for label in labels if doc.cats.get(label, 0.0) >= 0.5} for doc in docs], sets, labels)
        result["external"][name]["predictions"] = [sorted(s) for s in sets]
    result["operating_points"] = spacy.util.load_config(model / "config.cfg")["components"]["ad_signs"]["operating_points"]
    return result


def run_all(jobs: List[Dict], processes: int) -> List[Dict]:
    context = multiprocessing.get_context("fork")
    with context.Pool(processes, maxtasksperchild=None) as pool:
        return list(tqdm(pool.imap_unordered(train_and_score, jobs), total=len(jobs), desc="training runs", unit="run"))


def prepare_encodings(config: Path, texts: Sequence[str]) -> None:
    """Encode every distinct text once with the config's frozen encoders (if it has any), into the
    in-memory cache that the forked runs inherit (`encoding_cache()` is active: see main())."""
    from ad_signs.encoders import frozen_encoders

    nlp = spacy.util.load_model_from_config(spacy.util.load_config(config), auto_fill=True)
    encoders = frozen_encoders(nlp.get_pipe("ad_signs").model)
    docs = [nlp.make_doc(text) for text in dict.fromkeys(texts)]
    for encoder in encoders:
        encoder.initialize()
        started = time.perf_counter()
        for start in tqdm(range(0, len(docs), 256), desc=f"encoding ({encoder.name})", unit="batch"):
            encoder.predict(docs[start : start + 256])
        msg.info(f"{len(docs)} distinct sentences encoded once in {time.perf_counter() - started:.1f} s ({encoder.attrs['encoder_id']})")


# --- statistics ------------------------------------------------------------------------------------

def _mean_std(values: List[float]) -> Dict:
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "runs": values}


def rare_labels(labels: List[str], train_docs: Sequence, count: int) -> List[str]:
    """The `count` labels with the fewest gold train sentences (ties in the taxonomy's order)."""
    counts = {label: sum(doc.cats.get(label, 0.0) >= 0.5 for doc in train_docs) for label in labels}
    return sorted(labels, key=lambda label: (counts[label], labels.index(label)))[:count]


def summarize_regime(runs: List[Dict], baselines: Dict[str, List[Dict]], gold: np.ndarray, labels: List[str],
                     samples: int, seed: int, external: Optional[Dict[str, np.ndarray]] = None,
                     rare: Sequence[str] = ()) -> Dict:
    """Scores over seeds, and a paired bootstrap against each baseline (`{"vs_gold": runs, ...}`),
    on all labels and (`"rare"`) on the mean F1 of the `rare` labels; the same on each external
    test set (`external`: its gold matrix by name)."""
    columns = [labels.index(label) for label in rare]
    def matrix(run, split="test"):
        predictions = run["test"]["predictions"] if split == "test" else run["external"][split]["predictions"]
        return np.array([[label in p for label in labels] for p in predictions])

    test = [r["test"] for r in runs]
    stats = {"train_docs": runs[0]["train_docs"], "seeds": len(runs),
             "macro_f": _mean_std([t["macro_f"] for t in test]), "micro_f": _mean_std([t["micro_f"] for t in test]),
             "binary_f": _mean_std([t["binary"]["f"] for t in test]), "brier": _mean_std([t["brier"] for t in test]),
             "dev_macro_f": _mean_std([r["dev"]["macro_f"] for r in runs]),
             "train_seconds": _mean_std(seconds) if (seconds := [r["train_seconds"] for r in runs if r.get("train_seconds")]) else None,
             "binary_p": float(np.mean([t["binary"]["p"] for t in test])), "binary_r": float(np.mean([t["binary"]["r"] for t in test])),
             "per_label": {label: {m: float(np.mean([t["per_label"][label][m] for t in test])) for m in ("p", "r", "f")}
                           | {"support": test[0]["per_label"][label]["support"]} for label in labels}}
    stats["macro_f"]["interval"] = bootstrap_macro_f1(gold, [matrix(r) for r in runs], None, samples, seed)
    for name, baseline in baselines.items():
        stats[name] = bootstrap_macro_f1(gold, [matrix(r) for r in runs], [matrix(r) for r in baseline], samples, seed)
        stats[name]["mean_diff"] = stats[name].pop("mean")
        if columns:
            rare_diff = bootstrap_macro_f1(gold[:, columns], [matrix(r)[:, columns] for r in runs],
                                           [matrix(r)[:, columns] for r in baseline], samples, seed)
            stats[name]["rare"] = {"mean_diff": rare_diff.pop("mean"), **rare_diff}
    for split, split_gold in (external or {}).items():
        scores = [r["external"][split] for r in runs]
        stats.setdefault("external", {})[split] = {
            "macro_f": _mean_std([x["macro_f"] for x in scores]), "binary_f": _mean_std([x["binary"]["f"] for x in scores]),
            "per_label": {label: float(np.mean([x["per_label"][label]["f"] for x in scores])) for label in labels}}
        for name, baseline in baselines.items():
            diff = bootstrap_macro_f1(split_gold, [matrix(r, split) for r in runs], [matrix(r, split) for r in baseline], samples, seed)
            stats["external"][split][name] = {"mean_diff": diff.pop("mean"), **diff}
    return stats


def baselines_of(regime: str, by_regime: Dict[str, List[Dict]]) -> Dict[str, List[Dict]]:
    """What a regime is compared with: gold only, and a scarce-gold regime also with scarce gold
    alone (the paper's question: does synthetic data help when gold is scarce?)."""
    baselines = {"vs_gold": by_regime[BASELINE]} if regime != BASELINE else {}
    if regime.startswith(SCARCE + "_") and SCARCE in by_regime:
        baselines["vs_scarce_gold"] = by_regime[SCARCE]
    return baselines


def measure(model: Path, texts: List[str], notes: List[str]) -> Dict:
    """Speed on 1 process (no encoding cache), size on disk, and peak RSS in a fresh process."""
    from spacy.attrs import IS_SPACE

    nlp = spacy.load(model)
    list(nlp.pipe(texts[:32]))  # warm up (lazy sessions, tokenizers)
    started = time.perf_counter()
    docs = list(nlp.pipe(texts, batch_size=256))
    seconds = time.perf_counter() - started
    words = sum(int((doc.to_array([IS_SPACE]) == 0).sum()) for doc in docs)
    probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(model), json.dumps(notes)],
                           capture_output=True, text=True, check=True)
    return {"sentences_per_second": len(texts) / seconds, "words_per_second": words / seconds, "sentences": len(texts),
            "model_mb": sum(f.stat().st_size for f in model.rglob("*") if f.is_file()) / 1e6,
            "peak_rss_mb": float(probe.stdout.strip().splitlines()[-1])}


def choose_packages(architectures: Dict[str, Dict], speed_floor: float, accurate: Optional[str]) -> Dict[str, Dict]:
    """The default: best mean dev macro F1 among the (architecture, regime) pairs whose
    architecture reaches the speed floor; `_trf`: the accurate architecture's best on dev."""
    def best(names):
        pairs = [(a, r) for a in names for r in architectures[a]["regimes"] if r != "silver" and r != "bronze"]
        arch, regime = max(pairs, key=lambda p: architectures[p[0]]["regimes"][p[1]]["dev_macro_f"]["mean"])
        return {"architecture": arch, "regime": regime, "seed": 0,
                "dev_macro_f": architectures[arch]["regimes"][regime]["dev_macro_f"]["mean"]}

    fast_enough = [a for a, s in architectures.items() if s["speed"]["sentences_per_second"] >= speed_floor]
    if not fast_enough:  # a busy machine: the fastest architecture, said so in the summary
        fast_enough = [max(architectures, key=lambda a: architectures[a]["speed"]["sentences_per_second"])]
        msg.warn(f"No architecture reached {speed_floor:,.0f} sentences/s on 1 process; the default is the fastest, {fast_enough[0]}.")
    chosen = {PACKAGES["default"]: {**best(fast_enough), "speed_floor": speed_floor, "floor_reached": len(fast_enough) > 1 or
                                    architectures[fast_enough[0]]["speed"]["sentences_per_second"] >= speed_floor}}
    if accurate and accurate in architectures:
        chosen[PACKAGES["accurate"]] = best([accurate])
    return chosen


# --- main ------------------------------------------------------------------------------------------

def parse_architectures(values: List[str], option: str = "--arch", example: str = "fast=configs/train_fast.cfg") -> Dict[str, Path]:
    """NAME=PATH values (an existing file each) by name."""
    archs = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not re.fullmatch(r"[a-z][a-z0-9_]*", name) or not Path(path).is_file():
            raise typer.BadParameter(f"{option} {value!r}: expected NAME=PATH with an existing file, e.g. {example}")
        archs[name] = Path(path)
    return archs


def main(
    corpus: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder with train/dev/test .spacy (gold)"),
    training: Path = typer.Argument(..., help="Folder for the trained runs"),
    output: Path = typer.Argument(..., help="Folder for per-run metrics and summary.json"),
    silver: Path = typer.Option(..., exists=True, dir_okay=False, help="Silver DocBin"),
    bronze: Path = typer.Option(..., exists=True, dir_okay=False, help="Bronze DocBin"),
    arch: List[str] = typer.Option(..., help="NAME=CONFIG, repeatable; the first is the default architecture (every regime)"),
    accurate: Optional[str] = typer.Option("accurate", help="The architecture packaged as en_ad_signs_trf"),
    unfiltered_bronze: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="Bronze before the filters: adds the regime gold_bronze_unfiltered"),
    bronze_alone: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="Bronze for the bronze-only regime (default: --bronze), e.g. bronze not chosen by a gold-trained judge"),
    scarce: int = typer.Option(0, min=0, help="Adds the regimes scarce_gold and scarce_gold_silver_bronze: the first N gold train sentences (0: none)"),
    scarce_silver: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="Silver for scarce_gold_silver_bronze (default: --silver), e.g. judged by a judge trained on the scarce gold only"),
    scarce_bronze: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="Bronze for scarce_gold_silver_bronze (default: --bronze), likewise"),
    seeds: int = typer.Option(3, min=1, help="Seeds per regime (0, 1, ...)"),
    amounts: str = typer.Option("25,50", help="Curve: percentages of silver and bronze added to gold"),
    max_epochs: int = typer.Option(0, min=0, help="Training epochs per run (0: each config's own)"),
    jobs: int = typer.Option(2, min=1, help="Runs trained at once (one core each)"),
    bootstrap_samples: int = typer.Option(2000, "--bootstrap", min=100, help="Bootstrap resamples"),
    speed_floor: float = typer.Option(1000.0, help="Sentences/s on 1 process that the packaged default must reach"),
    notes: Path = typer.Option(Path("assets/notes/sample_notes.jsonl"), exists=True, dir_okay=False, help="Notes for the memory probe"),
    seed: int = typer.Option(0, help="Seed of the curve's subsampling and of the bootstrap"),
    external: List[str] = typer.Option([], help="NAME=DOCBIN, repeatable: another test set (other authors) every run is also scored on"),
    dev: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="Dev DocBin for epochs, thresholds and every choice (default: CORPUS/dev.spacy)"),
    rare_count: int = typer.Option(4, "--rare", min=0, help="How many of the labels with the fewest gold train sentences are 'rare' (compared on their own)"),
    gold_weight: int = typer.Option(1, min=1, help="Times each gold sentence appears in a regime that mixes gold with silver or bronze"),
    only: str = typer.Option("", help="Train only these regimes (comma-separated), for a comparison on dev; '' for all"),
):
    from ad_signs import encoders, pipeline
    from ad_signs.encoders import encoding_cache
    from ad_signs.readers import read_records

    archs = parse_architectures(arch)
    default = next(iter(archs))
    amount_list = [int(a) for a in amounts.split(",") if a.strip()]
    sources = {"train": corpus / "train.spacy", "silver": silver, "bronze": bronze}
    if unfiltered_bronze:
        sources["bronze_unfiltered"] = unfiltered_bronze
    if bronze_alone:
        sources["bronze_alone"] = bronze_alone
    if scarce:
        sources.update({name: path for name, path in (("scarce_silver", scarce_silver), ("scarce_bronze", scarce_bronze)) if path})
    try:
        regimes = write_regimes(sources, training / "data", amount_list, seed, scarce, gold_weight)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    if only:
        unknown = set(only.split(",")) - set(regimes)
        if unknown:
            msg.fail(f"--only: no regime {', '.join(sorted(unknown))}; the regimes are {', '.join(regimes)}", exits=1)
        regimes = {name: regimes[name] for name in dict.fromkeys([BASELINE, *only.split(",")])}  # gold: the baseline
    dev, test = dev or corpus / "dev.spacy", corpus / "test.spacy"
    external_sets = parse_architectures(external, "--external", "patients=corpus/patients.spacy")
    texts = [doc.text for path in [*sources.values(), dev, test, *external_sets.values()] for doc in read_docs(path)]
    dev_stamp = content_fingerprint(read_docs(dev))
    # A run is reused only if its encoders' files and the code that encodes and classifies are the same.
    encoder_files = sorted(Path("encoders").glob("*/build.json")) + [Path(encoders.__file__), Path(pipeline.__file__)]

    def jobs_for(name: str, regime_names: Sequence[str]) -> List[Dict]:
        return [{"arch": name, "regime": r, "seed": s, "config": str(archs[name]), "train": str(regimes[r][0]),
                 "train_docs": regimes[r][2], "dev": str(dev), "test": str(test), "max_epochs": max_epochs,
                 "external": {k: str(v) for k, v in external_sets.items()},
                 "output": str(training / name / r / f"seed{s}"),
                 "stamp": fingerprint(archs[name], regimes[r][1], dev_stamp, s, max_epochs, *encoder_files)}
                for r in regime_names for s in range(seeds)]

    runs: List[Dict] = []
    with encoding_cache():
        for name in archs:
            prepare_encodings(archs[name], texts)
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        msg.divider(f"{default}: every regime")
        runs += run_all(jobs_for(default, list(regimes)), jobs)
        dev_scores = {r: np.mean([x["dev"]["macro_f"] for x in runs if x["regime"] == r]) for r in AUGMENTED if r in regimes}
        best_augmented = max(dev_scores, key=dev_scores.get, default=BASELINE)
        others = [name for name in archs if name != default]
        if others:
            msg.divider(f"{', '.join(others)}: gold and {best_augmented} (the default's best augmented regime on dev)")
            runs += run_all([job for name in others for job in jobs_for(name, list(dict.fromkeys([BASELINE, best_augmented])))], jobs)

    labels = load_taxonomy().labels
    rare = rare_labels(labels, read_docs(sources["train"]), rare_count)
    test_docs = read_docs(test)
    gold = np.array([[doc.cats.get(label, 0.0) >= 0.5 for label in labels] for doc in test_docs])
    external_gold = {name: np.array([[doc.cats.get(label, 0.0) >= 0.5 for label in labels] for doc in read_docs(path)])
                     for name, path in external_sets.items()}
    (output / "runs").mkdir(parents=True, exist_ok=True)
    for run in runs:
        write_json(output / "runs" / f"{run['arch']}-{run['regime']}-seed{run['seed']}.json", run)
    note_texts = [record.text for record, _ in zip(read_records(notes), range(20))]
    architectures = {}
    for name, config in archs.items():
        by_regime = {r: sorted((x for x in runs if x["arch"] == name and x["regime"] == r), key=lambda x: x["seed"])
                     for r in regimes}
        by_regime = {r: rs for r, rs in by_regime.items() if rs}
        stats = {r: summarize_regime(rs, baselines_of(r, by_regime), gold, labels, bootstrap_samples, seed, external_gold, rare)
                 for r, rs in by_regime.items()}
        architectures[name] = {"config": str(config), "regimes": stats,
                               "speed": measure(training / name / BASELINE / "seed0" / "model-best", [d.text for d in test_docs], note_texts)}
    packages = choose_packages(architectures, speed_floor, accurate)
    for package, choice in packages.items():
        target = training / "packages" / package
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(training / choice["architecture"] / choice["regime"] / f"seed{choice['seed']}" / "model-best", target)
        choice["model"] = str(target)
    summary = {"labels": labels, "seeds": seeds, "amounts": amount_list, "max_epochs": max_epochs,
               "sources": {name: str(path) for name, path in {**sources, "dev": dev, "test": test, **external_sets}.items()},
               "regime_names": {r: regime_name(r) for r in regimes}, "dev_docs": len(read_docs(dev)), "rare_labels": rare, "default_architecture": default, "best_augmented": best_augmented, "architectures": architectures,
               "packages": packages, "config": str(archs[default]), "regimes": architectures[default]["regimes"]}
    write_json(output / "summary.json", summary)
    rows = [(name, regime, s["train_docs"], f"{s['dev_macro_f']['mean']:.3f}", f"{s['macro_f']['mean']:.3f} ± {s['macro_f']['std']:.3f}",
             f"{s['micro_f']['mean']:.3f}", f"{s['binary_f']['mean']:.3f}",
             f"{s['vs_gold']['mean_diff']:+.3f} [{s['vs_gold']['ci_low']:+.3f}, {s['vs_gold']['ci_high']:+.3f}]" if "vs_gold" in s else "",
             f"{architectures[name]['speed']['sentences_per_second']:.0f}")
            for name, a in architectures.items() for regime, s in a["regimes"].items()]
    msg.table(rows, header=("arch", "regime", "train", "dev macro", "test macro F1", "micro", "binary", "vs gold", "sents/s"), divider=True)
    for package, choice in packages.items():
        msg.good(f"{package}: {choice['architecture']} on {choice['regime']} (dev macro F1 {choice['dev_macro_f']:.3f}) -> {choice['model']}")


if __name__ == "__main__":
    typer.run(main)
