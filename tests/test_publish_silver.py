"""scripts/publish_silver.py: filtered silver of authored notes published (JSONL, DocBin, summary,
filter counts, data card); silver cut from notes marked as patient data is refused."""
import hashlib
import importlib.util

import spacy
import srsly
import typer
from typer.testing import CliRunner

from ad_signs.readers import read_docs, write_docs
from ad_signs.taxonomy import load_taxonomy
from conftest import ROOT

spec = importlib.util.spec_from_file_location("publish_silver", ROOT / "scripts/publish_silver.py")
publish_silver = importlib.util.module_from_spec(spec)
spec.loader.exec_module(publish_silver)

LABELS = load_taxonomy().labels


def silver_run(folder):
    """A filtered silver DocBin (+ .filter.json), the silver summary and the LLM's dev metrics."""
    nlp = spacy.blank("en")
    docs = []
    for i, (text, labels) in enumerate([("Wife reports he gets lost driving.", {LABELS[0]}), ("BP 130/80.", set())]):
        doc = nlp.make_doc(text)
        doc.cats = {label: float(label in labels) for label in LABELS}
        doc.user_data["source"] = {"id": "note-1", "sentence": i}
        doc.user_data["llm_confidence"] = {label: 0.9 if label in labels else 0.1 for label in LABELS}
        docs.append(doc)
    path = folder / "silver_filtered.spacy"
    write_docs(docs, path)
    srsly.write_json(path.with_suffix(".filter.json"), {"seen": 5, "kept": 2, "dropped": {"duplicates": 1, "unlabelled_share": 2}, "labels_removed": {LABELS[0]: 3},
                                                        "filters": ["duplicates"]})
    summary = folder / "silver.summary.json"
    srsly.write_json(summary, {"direction": "data-to-label", "items": 5, "docs": 5, "rejects": 0, "seconds": 4.0})
    llm_dev = folder / "llm_dev.json"
    srsly.write_json(llm_dev, {"confidence": {"thresholds": {LABELS[0]: 0.42},
                                              "at_thresholds": {"micro": {"p": 0.66, "r": 0.51, "f": 0.58}}}})
    return path, summary, llm_dev


def publish(*args):
    app = typer.Typer()
    app.command()(publish_silver.main)
    return CliRunner().invoke(app, [str(a) for a in args])


def test_silver_of_authored_notes_is_published_with_its_card(tmp_path):
    filtered, summary, llm_dev = silver_run(tmp_path)
    notes = tmp_path / "notes.jsonl"
    srsly.write_jsonl(notes, [{"note_id": "note-1", "text": "Wife reports he gets lost driving. BP 130/80."}])
    out = tmp_path / "silver"
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"not a model")
    result = publish(filtered, out, "--summary", summary, "--source", notes, "--llm-dev", llm_dev, "--gguf", gguf, "--version", "1")
    assert result.exit_code == 0, result.output
    rows = list(srsly.read_jsonl(out / "silver-v1.jsonl"))
    assert [r["labels"] for r in rows] == [[LABELS[0]], []] and rows[0]["confidence"][LABELS[0]] == 0.9
    assert [d.text for d in read_docs(out / "silver-v1.spacy")] == [r["text"] for r in rows]
    published = srsly.read_json(out / "silver-v1.summary.json")
    label_model = spacy.util.load_config(ROOT / "components/ad_signs/configs/llm_label.cfg", interpolate=False)["components"]["llm"]
    assert published["docs"] == 5 and published["settings"]["model"] == "tiny.gguf"
    assert published["settings"]["stop_bias"] == label_model["model"]["stop_bias"]
    assert published["settings"]["task"] == label_model["task"]["@llm_tasks"] == "ad_signs.LabelSentences.v2"
    assert published["settings"]["model_sha256"] == hashlib.sha256(b"not a model").hexdigest()
    card = (out / "DATA_CARD.md").read_text()
    assert "never patient data" in card and f"| {LABELS[0]} | 1 | 0.420 | 3 |" in card and "micro precision 0.66" in card
    assert "| unlabelled_share | 2 |" in card and "5 sentences of 1 notes" in card and "| choice_decoding | True |" in card


def test_silver_of_patient_notes_is_refused(tmp_path):
    filtered, summary, llm_dev = silver_run(tmp_path)
    notes = tmp_path / "NOTEEVENTS.csv"
    notes.write_text('ROW_ID,SUBJECT_ID,HADM_ID,TEXT\n1,10,20,"Wife reports he gets lost driving."\n')
    out = tmp_path / "silver"
    result = publish(filtered, out, "--summary", summary, "--source", notes, "--llm-dev", llm_dev)
    assert result.exit_code == 1 and "patient data" in result.output and not out.exists()
