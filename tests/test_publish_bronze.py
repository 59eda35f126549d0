"""scripts/publish_bronze.py: a published bronze version (JSONL, DocBin, summary, filter counts,
data card) made from one filtered run, and a later version that extends it with a top-up run."""
import importlib.util
import json

import pytest
import spacy
import srsly
import typer
from typer.testing import CliRunner

from ad_signs.readers import read_docs, write_docs
from ad_signs.taxonomy import load_taxonomy
from conftest import ROOT

spec = importlib.util.spec_from_file_location("publish_bronze", ROOT / "scripts/publish_bronze.py")
publish_bronze = importlib.util.module_from_spec(spec)
spec.loader.exec_module(publish_bronze)

LABELS = load_taxonomy().labels
SETTINGS = {"model": "tiny.gguf", "model_sha256": "ab" * 32, "plan_seed": 0, "per_label": 2}


def filtered_run(folder, name, sentences, label, seed, seen):
    """A filtered DocBin (+ .filter.json) of `sentences` written for `label`, and its run's summary."""
    nlp = spacy.blank("en")
    docs = []
    for text in sentences:
        doc = nlp.make_doc(text)
        doc.cats = {other: float(other == label) for other in LABELS}
        doc.user_data["source"] = {"label": label, "polarity": "positive", "facet": "f", "note_type": "progress note", "style": "terse"}
        docs.append(doc)
    path = folder / f"{name}.spacy"
    write_docs(docs, path)
    srsly.write_json(path.with_suffix(".filter.json"), {"seen": seen, "kept": len(docs), "dropped": {"roundtrip": seen - len(docs)},
                                                        "filters": ["duplicates", "roundtrip"]})
    summary = folder / f"{name}.summary.json"
    srsly.write_json(summary, {"direction": "label-to-data", "items": 1, "docs": seen, "rejects": 0, "seconds": 10.0,
                               "labels": {label: seen}, "settings": {**SETTINGS, "plan_seed": seed}})
    return path, summary


def privacy(folder, sentences):
    path = folder / "privacy.json"
    srsly.write_json(path, {"datasets": {"bronze_filtered": {"sentences": sentences, "identifiers": {"sentences": 0},
                                                              "placeholders": {"sentences": 0},
                                                              "memorization": {"threshold": 8, "max": 3, "sentences": 0}}}})
    return path


def publish(*args):
    app = typer.Typer()
    app.command()(publish_bronze.main)
    return CliRunner().invoke(app, [str(a) for a in args])


def test_publish_then_extend_with_a_top_up(tmp_path):
    out = tmp_path / "bronze"
    base, base_summary = filtered_run(tmp_path, "base", ["Dx: probable Alzheimer disease.", "Wife reports he repeats questions."],
                                      LABELS[0], seed=0, seen=5)
    result = publish(base, out, "--summary", base_summary, "--privacy", privacy(tmp_path, 2), "--version", "1")
    assert result.exit_code == 0, result.output
    rows = list(srsly.read_jsonl(out / "bronze-v1.jsonl"))
    assert [r["written_for"] for r in rows] == [LABELS[0]] * 2 and rows[0]["labels"] == [LABELS[0]]
    assert srsly.read_json(out / "bronze-v1.summary.json")["docs"] == 5

    top_up, top_summary = filtered_run(tmp_path, "top_up", ["Impression: mild neurocognitive disorder."], LABELS[-1], seed=1, seen=4)
    result = publish(top_up, out, "--summary", top_summary, "--privacy", privacy(tmp_path, 3), "--version", "2",
                     "--extends", out / "bronze-v1.spacy")
    assert result.exit_code == 0, result.output
    docs = read_docs(out / "bronze-v2.spacy")
    assert [d.text for d in docs] == [r["text"] for r in rows] + ["Impression: mild neurocognitive disorder."]  # base first, unchanged
    summary = srsly.read_json(out / "bronze-v2.summary.json")
    assert (summary["docs"], summary["items"]) == (9, 2)
    assert summary["settings"] == {k: v for k, v in SETTINGS.items() if k != "plan_seed"}  # only what both runs share
    assert [run["name"] for run in summary["runs"]] == ["bronze-v1", "bronze-v2 top-up"]
    filters = srsly.read_json(out / "bronze-v2.filter.json")
    assert (filters["seen"], filters["kept"], filters["dropped"]) == (9, 3, {"roundtrip": 6})
    card = (out / "DATA_CARD.md").read_text()
    assert "extends bronze-v1" in card and "weasel run bronze_topup" in card and "| plan_seed | 0 | 1 |" in card and "| kept | 2 | 1 |" in card
    assert f"| {LABELS[-1]} | 1 | 1 |" in card
    assert json.loads((out / "bronze-v2.jsonl").read_text().splitlines()[-1])["written_for"] == LABELS[-1]


def test_extends_needs_a_published_version(tmp_path):
    top_up, summary = filtered_run(tmp_path, "top_up", ["Dx: mild cognitive impairment."], LABELS[0], seed=1, seen=1)
    lonely = tmp_path / "lonely.spacy"
    write_docs([], lonely)
    result = publish(top_up, tmp_path / "out", "--summary", summary, "--privacy", privacy(tmp_path, 1), "--extends", lonely)
    assert result.exit_code == 1 and "lonely.summary.json" in result.output


@pytest.mark.parametrize("runs", [1, 2])
def test_combined_summary_keeps_one_run_as_is(runs):
    summaries = [(f"run{i}", {"docs": 3, "items": 1, "rejects": 0, "labels": {"A": 3}, "settings": {"model": "m"}}) for i in range(runs)]
    combined = publish_bronze.combined_summary(summaries)
    assert combined["docs"] == 3 * runs and combined["labels"] == {"A": 3 * runs} and combined["settings"] == {"model": "m"}
    assert ("runs" in combined) == (runs > 1)
