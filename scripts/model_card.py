"""Write a packaged pipeline's meta.json (its model card) from this run's results, for
`spacy package --meta-path`, which renders it into the package's README.

    python scripts/model_card.py metrics/experiment/summary.json en_ad_signs packages/meta/en_ad_signs.json \
        --base configs/meta.json --silver-summary corpus/silver.summary.json --bronze-summary corpus/bronze.summary.json

The scores are the packaged run's own, on the gold test split (never dev), with the mean over
seeds beside them; the thresholds are the ones chosen on dev and stored in the pipeline.
"""
import hashlib
from pathlib import Path
from typing import Dict, Optional

import srsly
import typer
from wasabi import msg

from ad_signs.atomic import write_json
from ad_signs.text import markdown_table

REQUIREMENTS = {"StaticEmbeddings": ["tokenizers>=0.20"], "OnnxEncoder": ["tokenizers>=0.20", "onnxruntime>=1.17"]}

INTENDED_USE = """**Intended use.** Finding sentences of English clinical notes that document signs and symptoms of
Alzheimer's disease (the nine categories of the project's annotation guideline), for research:
cohort screening, chart review, studying how signs appear before a diagnosis. Not a diagnostic
device; every finding is a candidate for a human to read.

**Limitations.** Sentence level: a sentence is judged alone, without the rest of the note. English only.
Affirmed mentions about the patient only: negated ("denies memory loss"), hypothetical ("return if
confused") and family-history ("mother had Alzheimer's") mentions, and statements about other people,
were trained as negatives, but the classifier will still err on them; pair it with a negation
component (medspaCy's ConText) where that matters. Gold data are authored sentences, not real
notes (no patient data), scored by their own authors' test split: expect lower scores on real
notes and on other writers' styles. Silver and bronze were labelled or written by a 1.5B-parameter
local LLM and are noisy."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "n/a"


def model_card(summary: Dict, package: str, base: Dict, silver: Dict, bronze: Dict, run: Dict, gguf_sha: str) -> Dict:
    """The meta.json of `package`; `silver` also carries its `source` and whether it is `sensitive`."""
    choice = summary["packages"][package]
    arch = summary["architectures"][choice["architecture"]]
    stats = arch["regimes"][choice["regime"]]
    test, labels = run["test"], summary["labels"]
    points = run["operating_points"]
    config = srsly.read_json(Path(choice["model"]) / "meta.json")
    pipeline_config = Path(choice["model"], "config.cfg").read_text()
    requirements = sorted({req for name, reqs in REQUIREMENTS.items() if f"ad_signs.{name}." in pipeline_config for req in reqs})
    rows = [[label, f"{test['per_label'][label]['p']:.2f}", f"{test['per_label'][label]['r']:.2f}",
             f"{test['per_label'][label]['f']:.2f}", f"{stats['per_label'][label]['f']:.2f}", test["per_label"][label]["support"],
             f"{points['f1'][label]:.2f}", f"{points['screening'][label]:.2f}"] for label in labels]
    rows += [["**macro**", "", "", f"{test['macro_f']:.3f}", f"{stats['macro_f']['mean']:.3f} ± {stats['macro_f']['std']:.3f}", "", "", ""],
             ["**micro**", "", "", f"{test['micro_f']:.3f}", f"{stats['micro_f']['mean']:.3f}", "", "", ""],
             ["**binary** (any label vs none)", f"{test['binary']['p']:.2f}", f"{test['binary']['r']:.2f}", f"{test['binary']['f']:.3f}",
              f"{stats['binary_f']['mean']:.3f}", test["binary"]["support"], "", ""]]
    speed = arch["speed"]
    dev = f"dev (`{summary['sources']['dev']}`, {summary['dev_docs']:,} sentences)"
    notes = "\n\n".join([
        "### Model card (written by `scripts/model_card.py` from this run)",
        f"Architecture **{choice['architecture']}** (`{arch['config']}`), trained on **{choice['regime'].replace('_', ' + ')}** "
        f"({stats['train_docs']} sentences), seed {choice['seed']}; chosen on {dev} macro F1 ({choice['dev_macro_f']:.3f}, "
        "thresholds tuned on dev).",
        "**Scores on the gold test split** (this pipeline's own run, and the mean over "
        f"{stats['seeds']} seeds), each label decided at its `f1` threshold; thresholds chosen on {dev}:",
        markdown_table(["label", "P", "R", "F1", f"F1, {stats['seeds']} seeds", "support", "f1 threshold", "screening threshold"], rows),
        f"Brier score {test['brier']:.3f} (mean squared error of the scores over every sentence and label).",
        "**Operating points.** `f1` (the default) maximises each label's F1 on dev; `screening` keeps each label's dev "
        "recall at 0.9 or more, for finding candidates to review: "
        '`spacy.load("' + package + '", config={"components": {"ad_signs": {"operating_point": "screening"}}})`.',
        f"**Speed** on 1 process (the gold test sentences, this machine, 2 cores): {speed['sentences_per_second']:,.0f} "
        f"sentences/s, {speed['words_per_second']:,.0f} words/s; {speed['model_mb']:.0f} MB on disk; peak RSS "
        f"{speed['peak_rss_mb']:.0f} MB loading it and annotating 20 notes.",
        "**Training data.** Gold: sentences authored for this project and labelled by its guideline (`assets/`, no patient "
        f"data). Silver (data-to-label): {silver.get('docs', 'n/a')} sentences of `{silver.get('source', 'n/a')}` labelled by "
        f"the local LLM; that input {'holds' if silver.get('sensitive') else 'holds no'} records marked as patient data "
        "(a SUBJECT_ID/subject_id field, as in MIMIC). Bronze "
        f"(label-to-data): {bronze.get('docs', 'n/a')} sentences written by the local LLM from the label definitions alone "
        f"(model file SHA-256 `{gguf_sha}`), then filtered. The runs trained on `{summary['sources'].get('silver', 'n/a')}` "
        f"and `{summary['sources'].get('bronze', 'n/a')}` (`_judged`: kept only where a classifier trained on gold alone, "
        "`python -m ad_signs judge`, decides the same labels as the LLM).",
        INTENDED_USE,
    ])
    meta = {**base, "name": package.split("_", 1)[1], "description": base["description"], "notes": notes,
            "requirements": requirements,
            "performance": {"cats_macro_f": test["macro_f"], "cats_micro_f": test["micro_f"], "cats_binary_f": test["binary"]["f"],
                            "cats_binary_p": test["binary"]["p"], "cats_binary_r": test["binary"]["r"], "brier": test["brier"],
                            "cats_f_per_type": {label: test["per_label"][label] for label in labels},
                            "speed": speed["words_per_second"]},
            "ad_signs": {"architecture": choice["architecture"], "regime": choice["regime"], "seed": choice["seed"],
                         "operating_points": points, "test_mean_over_seeds": {k: stats[k]["mean"] for k in ("macro_f", "micro_f", "binary_f")},
                         "speed": speed, "training_pipeline_meta": {k: config.get(k) for k in ("spacy_version", "spacy_git_version")}}}
    return meta


def main(
    summary_path: Path = typer.Argument(..., help="metrics/experiment/summary.json"),
    package: str = typer.Argument(..., help="en_ad_signs or en_ad_signs_trf"),
    output: Path = typer.Argument(..., help="meta.json to write"),
    base: Path = typer.Option(Path("configs/meta.json"), help="The card's fixed part: author, license, description"),
    runs: Path = typer.Option(Path("metrics/experiment/runs"), help="Per-run JSON of the experiment"),
    silver_summary: Optional[Path] = typer.Option(None, help="The silver step's summary"),
    silver_source: Optional[Path] = typer.Option(None, help="The notes silver was cut from (checked for patient-data records)"),
    bronze_summary: Optional[Path] = typer.Option(None, help="The bronze step's summary"),
    gguf: Optional[Path] = typer.Option(None, help="The LLM's GGUF file (default: the model the bronze summary names, else the one the LLM steps load)"),
):
    summary = srsly.read_json(summary_path)
    if package not in summary["packages"]:
        msg.fail(f"{package} is not among the experiment's packages: {', '.join(summary['packages'])}", exits=1)
    choice = summary["packages"][package]
    run = srsly.read_json(runs / f"{choice['architecture']}-{choice['regime']}-seed{choice['seed']}.json")
    silver = srsly.read_json(silver_summary) if silver_summary and silver_summary.exists() else {}
    if silver_source:
        from ad_signs.readers import read_records

        silver.update(source=str(silver_source), sensitive=any(r.sensitive for r in read_records(silver_source)))
    bronze = srsly.read_json(bronze_summary) if bronze_summary and bronze_summary.exists() else {}
    gguf_sha = bronze.get("settings", {}).get("model_sha256")  # the model that wrote this bronze (a published set's too)
    if gguf is None and not gguf_sha:
        try:
            from ad_signs.llm.weights import resolve_model_path

            gguf = Path(resolve_model_path(None))
        except ImportError:  # the [llm] extra is not installed
            pass
    if gguf is not None:
        gguf_sha = _sha256(gguf)
    meta = model_card(summary, package, srsly.read_json(base), silver, bronze, run, gguf_sha or "n/a")
    output.parent.mkdir(parents=True, exist_ok=True)
    write_json(output, meta)
    msg.good(f"{package}: test macro F1 {meta['performance']['cats_macro_f']:.3f} -> {output}")


if __name__ == "__main__":
    typer.run(main)
