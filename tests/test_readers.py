import csv

import pytest
import spacy

from ad_signs.readers import InputError, read_records, sentence_docs
from conftest import write_jsonl

NOTE = "HPI: 81 yo M w/ memory loss.\nPer wife, pt. gets lost driving.\nPlan:\n1. Donepezil 5 mg qhs"


def test_jsonl_csv_txt_and_folder(tmp_path):
    write_jsonl(tmp_path / "notes.jsonl", [{"note_id": "a1", "text": NOTE, "category": "Neurology"}])
    with (tmp_path / "NOTEEVENTS.csv").open("w", newline="") as f:  # MIMIC-III column names
        writer = csv.DictWriter(f, ["ROW_ID", "CATEGORY", "TEXT"])
        writer.writeheader()
        writer.writerow({"ROW_ID": "7", "CATEGORY": "Nursing", "TEXT": NOTE})
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "n1.txt").write_text(NOTE)
    records = {
        "jsonl": list(read_records(tmp_path / "notes.jsonl")),
        "csv": list(read_records(tmp_path / "NOTEEVENTS.csv")),
        "folder": list(read_records(tmp_path / "txt")),
        "txt": list(read_records(tmp_path / "txt" / "n1.txt")),
    }
    assert {k: (r[0].id, r[0].text) for k, r in records.items()} == {
        "jsonl": ("a1", NOTE), "csv": ("7", NOTE), "folder": ("n1", NOTE), "txt": ("n1", NOTE)
    }
    assert records["csv"][0].meta["CATEGORY"] == "Nursing"


def test_notes_become_sentence_docs_with_their_source(tmp_path):
    write_jsonl(tmp_path / "notes.jsonl", [{"note_id": "a1", "text": NOTE}])
    docs = list(sentence_docs(spacy.blank("en"), read_records(tmp_path / "notes.jsonl")))
    assert [d.text for d in docs] == [
        "HPI: 81 yo M w/ memory loss.", "Per wife, pt. gets lost driving.", "Plan:", "1. Donepezil 5 mg qhs"
    ]
    assert docs[1].user_data["source"]["id"] == "a1" and docs[1].user_data["source"]["sentence"] == 1


def test_bad_inputs_say_what_to_fix(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\nnot json\n')
    with pytest.raises(InputError, match="line 2: not valid JSON"):
        list(read_records(tmp_path / "bad.jsonl"))
    (tmp_path / "x.csv").write_text("id,body\n1,hello\n")
    with pytest.raises(InputError, match="none of the text fields.*Available: id, body.*--text-field"):
        list(read_records(tmp_path / "x.csv"))
    assert [r.text for r in read_records(tmp_path / "x.csv", text_field="body")] == ["hello"]
    (tmp_path / "x.parquet").write_text("")
    with pytest.raises(InputError, match="unsupported format"):
        list(read_records(tmp_path / "x.parquet"))
    with pytest.raises(InputError, match="not found"):
        list(read_records(tmp_path / "missing.jsonl"))
