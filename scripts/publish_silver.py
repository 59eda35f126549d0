"""Publish filtered silver as a versioned dataset: JSONL, DocBin and a data card.

Silver is sentences of notes labelled by the LLM (data-to-label). It is only publishable when
the notes themselves are: the embedded sample notes are authored (`assets/README.md`), real
notes are not. This script refuses a source that holds any record marked as patient data
(MIMIC's `SUBJECT_ID`, `HADM_ID`, ...; `ad_signs.readers`), so MIMIC silver never leaves the
machine this way. With published silver and bronze, `weasel run published` rebuilds and
packages the pipelines without the LLM stack.

    python scripts/publish_silver.py corpus/silver_filtered.spacy assets/silver \
        --summary corpus/silver.summary.json --source assets/notes/sample_notes.jsonl \
        --llm-dev metrics/llm_dev.json --version 1
"""
import hashlib
import shutil
from collections import Counter
from pathlib import Path
from typing import Optional

import srsly
import typer
from wasabi import msg

from ad_signs.atomic import replaced_when_done
from ad_signs.metrics import label_set
from ad_signs.readers import InputError, read_docs, read_records, write_docs
from ad_signs.taxonomy import load_taxonomy
from ad_signs.text import markdown_table


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _llm_block(config: Path) -> dict:
    from confection import Config

    return Config().from_disk(config, interpolate=False)["components"]["llm"]


def task_of(config: Path) -> str:
    """The label config's task (its prompt), e.g. `ad_signs.LabelSentences.v2`."""
    task = _llm_block(config)["task"]
    return task["@llm_tasks"] + (f" (template {task['template']})" if task.get("template") else "")


def labeling_settings(config: Path, gguf: Optional[Path]) -> dict:
    """What labelled silver: the label config's task (its prompt), model block and the model file
    with its SHA-256 (default: the model the LLM steps load, when the [llm] extra is installed)."""
    llm = _llm_block(config)
    settings = {key: value for key, value in llm["model"].items() if not isinstance(value, dict) and not str(value).startswith("${")}
    settings["task"] = task_of(config)
    if gguf is None:
        try:
            from ad_signs.llm.weights import resolve_model_path

            gguf = Path(resolve_model_path(None))
        except ImportError:
            pass
    if gguf is not None:
        settings.update(model=gguf.name, model_sha256=sha256(gguf))
    return {"config": str(config), **settings}


def card(version: str, docs, summary: dict, settings: dict, filters: dict, llm_dev: dict, source: Path, notes: int, files: dict) -> str:
    labels = load_taxonomy().labels
    counts = Counter(label for doc in docs for label in label_set(doc))
    confidence = llm_dev.get("confidence", {})
    thresholds, kept = confidence.get("thresholds", {}), confidence.get("at_thresholds", {}).get("micro", {})
    dropped, removed = filters.get("dropped", {}), filters.get("labels_removed", {})
    return f"""# Silver AD-signs sentences, version {version}

**Labelled by a machine; the sentences are authored, never patient data.** Every sentence is a
sentence of `{source}`, notes written by the project team in the style of MIMIC-III (their data
card: `assets/README.md`), labelled by the local LLM with the annotation guideline
(`components/ad_signs/taxonomy.yml`) and its few-shot examples (data-to-label). The labels are the
LLM's, not an annotator's: use them as noisy training data, never as a test set.

## Files
{markdown_table(("file", "sentences", "SHA-256"), [(f, len(docs), h) for f, h in files.items()])}

JSONL fields: `text`, `labels` (the LLM's labels kept by the filters), `confidence` (the LLM's
per-label confidence from choice decoding), `note_id`, `sentence` (its index in the note). The
DocBin has every label in `doc.cats` and the note and sentence in `doc.user_data["source"]`.

## How it was made
{markdown_table(("setting", "value"), sorted((k, v) for k, v in settings.items()))}

{summary.get("docs", 0)} sentences of {notes} notes labelled, {summary.get("rejects", 0)} answers rejected (not parsed; kept aside, asked again). Reproduce:
`weasel run silver`, `weasel run llm_dev`, `weasel run filter`, then `weasel run silver_dataset`.

## Filters ({filters.get("seen", 0)} seen, {filters.get("kept", 0)} kept)
{markdown_table(("filter", "dropped or changed"), sorted(dropped.items()))}

A label whose confidence is below its threshold is taken off (thresholds chosen on gold dev,
where they give the LLM the precision below; `metrics/llm_dev.json`); lines without a label are
kept up to gold train's share; gold sentences and their near copies are dropped.

{markdown_table(("label", "sentences", "confidence threshold", "taken off below it"),
       [(label, counts[label], f"{thresholds[label]:.3f}" if label in thresholds else "", removed.get(label, 0)) for label in labels])}

{sum(1 for doc in docs if not label_set(doc))} sentences have no label. The labeling LLM on gold dev at these thresholds:
micro precision {kept.get("p", float("nan")):.2f}, recall {kept.get("r", float("nan")):.2f}.

## Intended use and limits
Training sentence classifiers of AD signs next to gold; in this project a classifier trained on
gold alone (`judge`) keeps the sentences whose labels it agrees with. The LLM finds about half of
the labels gold has, so many sentences without a label carry a sign. Not for clinical decisions.
License: MIT, as the notes it is cut from (the project's).
"""


def main(
    filtered: Path = typer.Argument(..., exists=True, dir_okay=False, help="Filtered silver DocBin (its .filter.json beside it)"),
    out: Path = typer.Argument(..., file_okay=False, help="Dataset folder (e.g. assets/silver)"),
    summary: Path = typer.Option(..., exists=True, dir_okay=False, help="The silver step's summary JSON"),
    source: Path = typer.Option(..., exists=True, help="The notes silver was cut from: must hold no patient-data record"),
    llm_dev: Path = typer.Option(..., exists=True, dir_okay=False, help="The labeling LLM on gold dev (its thresholds)"),
    config: Path = typer.Option(Path(__file__).parents[1] / "components/ad_signs/configs/llm_label.cfg", exists=True, dir_okay=False,
                                help="The spacy-llm config that labelled silver"),
    gguf: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="The model file (default: the one the LLM steps load)"),
    version: str = typer.Option("1"),
):
    try:
        records = list(read_records(source))
    except InputError as err:
        msg.fail(f"--source: {err}", exits=1)
    sensitive = sum(record.sensitive for record in records)
    if sensitive:
        msg.fail(f"{source} holds {sensitive} records marked as patient data: silver cut from them must not be published.", exits=1)
    docs = read_docs(filtered)
    if not docs:
        msg.fail(f"{filtered} holds no sentences: nothing to publish.", exits=1)
    report = filtered.with_suffix(".filter.json")
    if not report.exists():
        msg.fail(f"{filtered}: no {report.name} beside it; give the `filter` step's output.", exits=1)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"silver-v{version}"
    rows = []
    for doc in docs:
        src = doc.user_data.get("source", {})
        confidence = doc.user_data.get("llm_confidence", {})
        rows.append({"text": doc.text, "labels": sorted(label_set(doc)), "confidence": {k: round(v, 3) for k, v in confidence.items()},
                     "note_id": src.get("id"), "sentence": src.get("sentence")})
    with replaced_when_done(stem.with_suffix(".jsonl")) as partial:
        srsly.write_jsonl(partial, rows)
    write_docs(docs, stem.with_suffix(".spacy"))
    with replaced_when_done(stem.with_suffix(".filter.json")) as partial:
        shutil.copyfile(report, partial)
    run = srsly.read_json(summary)
    settings = run.get("settings") or labeling_settings(config, gguf)
    settings.setdefault("task", task_of(config))  # a run's summary names its model, not its prompt
    with replaced_when_done(stem.with_suffix(".summary.json")) as partial:  # how it was made (model cards read it)
        srsly.write_json(partial, {**run, "settings": settings})
    files = {p.name: sha256(p) for p in (stem.with_suffix(".jsonl"), stem.with_suffix(".spacy"))}
    text = card(version, docs, run, settings, srsly.read_json(report), srsly.read_json(llm_dev), source, len(records), files)
    with replaced_when_done(out / "DATA_CARD.md") as partial:
        partial.write_text(text, encoding="utf8")
    msg.good(f"{len(docs)} sentences -> {stem}.jsonl, {stem}.spacy, {out / 'DATA_CARD.md'}")


if __name__ == "__main__":
    typer.run(main)
