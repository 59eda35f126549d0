"""Publish a filtered bronze set as a versioned dataset: JSONL, DocBin and a data card.

Bronze is written by the LLM from the label definitions alone, so it holds no patient data by
construction and can be shared (the paper's point). The card is built from the run's own
records: the generation summary (model, SHA-256, seeds, amounts), the filter report, the privacy
scan and the labels of the sentences kept.

    python scripts/publish_bronze.py corpus/bronze_dataset/bronze_filtered.spacy assets/bronze \
        --summary corpus/bronze_dataset/bronze.summary.json --privacy corpus/bronze_dataset/privacy.json \
        --version 1

A new version may extend a published one (`--extends assets/bronze/bronze-v2.spacy`) with
sentences of further generation runs (a top-up of the labels it has too few of, each run's
`--summary`): the base comes first, unchanged, and the card reports every run and its filters.
The privacy scan must cover the whole new version (scan the base and the top-up together).
"""
import hashlib
import shutil
from collections import Counter
from pathlib import Path
from typing import List, Optional, Tuple

import srsly
import typer
from wasabi import msg

from ad_signs.atomic import replaced_when_done
from ad_signs.metrics import label_set
from ad_signs.readers import read_docs, write_docs
from ad_signs.taxonomy import load_taxonomy
from ad_signs.text import markdown_table

LICENSE = "CC0-1.0"  # machine-written from the guideline's definitions; no patient text


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def combined_summary(runs: List[Tuple[str, dict]]) -> dict:
    """One summary for a dataset made by several generation runs: counts summed, the settings all
    runs share (the model and its SHA-256, which model cards read), and each run's own summary."""
    summaries = [summary for _, summary in runs]
    if len(summaries) == 1:
        return summaries[0]
    shared = {k: v for k, v in summaries[0].get("settings", {}).items() if all(s.get("settings", {}).get(k) == v for s in summaries)}
    labels = Counter()
    for summary in summaries:
        labels.update(summary.get("labels", {}))
    return {"direction": summaries[0].get("direction"), **{k: sum(s.get(k, 0) for s in summaries) for k in ("items", "docs", "rejects")},
            "seconds": round(sum(s.get("seconds", 0.0) for s in summaries), 2), "labels": dict(labels), "settings": shared,
            "runs": [{"name": name, **summary} for name, summary in runs]}


def combined_filters(parts: List[Tuple[str, dict]]) -> dict:
    """One filter report, in `filter`'s shape, for a dataset filtered in parts, with each part's."""
    dropped = Counter()
    for _, report in parts:
        dropped.update(report.get("dropped", {}))
    return {"seen": sum(r.get("seen", 0) for _, r in parts), "kept": sum(r.get("kept", 0) for _, r in parts),
            "dropped": dict(dropped), "filters": list(dict.fromkeys(f for _, r in parts for f in r.get("filters", []))),
            "parts": [{"name": name, **report} for name, report in parts]}


def card(name: str, version: str, docs, runs: List[Tuple[str, dict]], filters: List[Tuple[str, dict]], privacy: dict,
         files: dict, extends: Optional[str] = None) -> str:
    """The data card. `runs`: each generation run's (name, summary); `filters`: each filtered
    part's (name, filter report), in the order of the dataset's sentences."""
    labels = load_taxonomy().labels
    summary = combined_summary(runs)
    names = [run_name for run_name, _ in runs]
    keys = sorted({k for _, s in runs for k in s.get("settings", {})})
    settings_rows = [(k, *[s.get("settings", {}).get(k, "") for _, s in runs]) for k in keys]
    filter_names = list(dict.fromkeys(f for _, report in filters for f in report.get("filters", [])))
    filter_rows = [(f, *[report.get("dropped", {}).get(f, 0) for _, report in filters]) for f in filter_names]
    filter_rows += [("seen", *[r.get("seen", 0) for _, r in filters]), ("kept", *[r.get("kept", 0) for _, r in filters])]
    reproduce = "`weasel run bronze_dataset` (project vars `dataset_per_label`, `dataset_negatives_per_label`, `seed`, `dataset_version`)"
    if extends:
        reproduce = (f"{extends} as its card (`DATA_CARD-{extends.rpartition('-')[2]}.md`) says, then `weasel run bronze_topup` (project vars `topup_extends`, "
                     "`topup_labels`, `topup_seed`, `topup_version`)")
    origin = (f"Version {version} extends {extends} (unchanged, first) with top-up runs for the labels it had fewest "
              "sentences of; each run's settings and filters are a column below.\n\n") if extends else ""
    positives = Counter(label for doc in docs for label in label_set(doc))
    kinds = Counter(doc.user_data.get("source", {}).get("polarity", "?") for doc in docs)
    written_for = Counter(doc.user_data.get("source", {}).get("label", "?") for doc in docs)
    scan = privacy.get("datasets", {}).get(name, {})
    return f"""# Bronze AD-signs sentences, version {version}

**Authored by a machine, never patient data.** Every sentence was written by a local LLM from the
label definitions of the annotation guideline (`components/ad_signs/taxonomy.yml`) and a seeded
prompt plan; no clinical note was shown to it. Labels are the ones each prompt asked for
(multi-label: `labels`); hard negatives (negated, hypothetical, family history, look-alike) have no label.

## Files
{markdown_table(("file", "sentences", "SHA-256"), [(f, len(docs), h) for f, h in files.items()])}

JSONL fields: `text`, `labels` (affirmed labels), `written_for` (the label of the prompt),
`polarity` (`positive`, `negated`, `hypothetical`, `family_history`, `look_alike`), `facet` (the sub-sign asked for;
a look-alike's: the unrelated thing asked for),
`note_type`, `style`. The DocBin has every label in `doc.cats` and the same fields in `doc.user_data["source"]`.

## How it was made
{origin}{markdown_table(("setting", *names), settings_rows)}

{summary.get("items", 0)} prompts answered, {summary.get("docs", 0)} sentences written, {summary.get("rejects", 0)}
answers rejected (not parsed; kept aside, asked again). Reproduce: {reproduce}.

## Filters ({sum(r.get("seen", 0) for _, r in filters)} seen, {sum(r.get("kept", 0) for _, r in filters)} kept)
{markdown_table(("filter: dropped", *[n for n, _ in filters]), filter_rows)}

`roundtrip`: the data-to-label LLM labelled each sentence again; a positive is kept only if it
finds the label, a hard negative only if it does not. `duplicates`: exact and near copies (word
trigram Jaccard ≥ 0.8) of each other and of every gold sentence (a top-up: and of the version it extends).

## Labels
{markdown_table(("label", "affirmed", "written for (incl. hard negatives)"), [(label, positives[label], written_for[label]) for label in labels])}

{markdown_table(("kind", "sentences"), sorted(kinds.items()))}

## Privacy scan (`scripts/privacy_check.py`)
{markdown_table(("check", "sentences"), [
    ("scanned", scan.get("sentences", 0)),
    ("with an identifier-like string (name, date, phone, record number, address, e-mail, SSN)",
     scan.get("identifiers", {}).get("sentences", 0)),
    ("with a de-identification placeholder", scan.get("placeholders", {}).get("sentences", 0)),
    (f"sharing ≥ {scan.get('memorization', {}).get('threshold', '?')} words in a row with gold or the notes "
     f"(longest run: {scan.get('memorization', {}).get('max', '?')} words)", scan.get("memorization", {}).get("sentences", 0)),
])}

## Intended use and limits
Training and evaluating sentence classifiers of AD signs and symptoms, alone or next to real
annotated notes. The sentences are short chart-like lines written by a 1.5B model: simpler and
more uniform than real notes, with label noise the roundtrip only partly removes. Not for clinical
decisions. License: {LICENSE}.
"""


def main(
    filtered: Path = typer.Argument(..., exists=True, dir_okay=False, help="Filtered bronze DocBin"),
    out: Path = typer.Argument(..., file_okay=False, help="Dataset folder (e.g. assets/bronze)"),
    summary: List[Path] = typer.Option(..., exists=True, dir_okay=False, help="The generation run's summary JSON (repeatable: one per run)"),
    privacy: Path = typer.Option(..., exists=True, dir_okay=False, help="privacy_check.py output with this dataset (all of it)"),
    name: str = typer.Option("bronze_filtered", help="The dataset's name in the privacy report"),
    version: str = typer.Option("1"),
    extends: Optional[Path] = typer.Option(None, exists=True, dir_okay=False,
                                           help="A published version's DocBin (with its .summary.json and .filter.json) that this one extends"),
):
    docs = read_docs(filtered)
    if not docs:
        msg.fail(f"{filtered} holds no sentences: nothing to publish.", exits=1)
    part = f"bronze-v{version}" + (" top-up" if extends else "")
    runs = [(part + (f" {i + 1}" if len(summary) > 1 else ""), srsly.read_json(path)) for i, path in enumerate(summary)]
    filters = [(part, srsly.read_json(filtered.with_suffix(".filter.json")))]
    if extends:
        for suffix in (".summary.json", ".filter.json"):
            if not extends.with_suffix(suffix).exists():
                msg.fail(f"{extends}: no {extends.with_suffix(suffix).name} beside it; give a published version's DocBin.", exits=1)
        base = srsly.read_json(extends.with_suffix(".summary.json"))
        runs = [(extends.stem, base), *runs]
        filters = [(extends.stem, srsly.read_json(extends.with_suffix(".filter.json"))), *filters]
        docs = read_docs(extends) + docs
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"bronze-v{version}"
    rows = []
    for doc in docs:
        source = doc.user_data.get("source", {})
        rows.append({"text": doc.text, "labels": sorted(label_set(doc)), "written_for": source.get("label"),
                     **{k: source.get(k) for k in ("polarity", "facet", "note_type", "style")}})
    with replaced_when_done(stem.with_suffix(".jsonl")) as partial:
        srsly.write_jsonl(partial, rows)
    write_docs(docs, stem.with_suffix(".spacy"))
    with replaced_when_done(stem.with_suffix(".filter.json")) as partial:  # its filter counts, as `filter` wrote them
        if len(filters) == 1:
            shutil.copyfile(filtered.with_suffix(".filter.json"), partial)
        else:
            srsly.write_json(partial, combined_filters(filters))
    with replaced_when_done(stem.with_suffix(".summary.json")) as partial:  # how it was made (model cards read it)
        srsly.write_json(partial, combined_summary(runs))
    files = {p.name: sha256(p) for p in (stem.with_suffix(".jsonl"), stem.with_suffix(".spacy"))}
    text = card(name, version, docs, runs, filters, srsly.read_json(privacy), files, extends.stem if extends else None)
    with replaced_when_done(out / "DATA_CARD.md") as partial:
        partial.write_text(text, encoding="utf8")
    msg.good(f"{len(docs)} sentences -> {stem}.jsonl, {stem}.spacy, {out / 'DATA_CARD.md'}")


if __name__ == "__main__":
    typer.run(main)
