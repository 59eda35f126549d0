"""`annotate`: the trained pipeline over a notes file, one row per finding, the same rows whether
run in one process, two, or on a local Dask cluster."""
import csv

import pandas as pd
import pytest
import srsly
from typer.testing import CliRunner

from ad_signs.cli import app
from conftest import NOTE, trained_nlp, write_jsonl

NOTES = [NOTE, "Pt denies memory loss. BP 120/80.", "", "Daughter reports he repeats questions.\nStarted donepezil 5 mg."] * 3


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("annotate") / "model"
    trained_nlp(extra_pipes=["clinical_sentencizer"]).to_disk(path)
    return path


def expected_rows(model):
    import spacy

    nlp = spacy.load(model)
    rows = []
    for i, doc in enumerate(nlp.pipe(NOTES)):
        sents = {s.start: k for k, s in enumerate(doc.sents)}
        for span in doc.spans["ad_signs"]:
            rows.append((f"n{i}", sents[span.sent.start], span.text, span.label_))
    return rows


def key(rows):
    return [(r["note_id"], r["sentence"], r["text"], r["label"]) for r in rows]


def invoke(*args):
    result = CliRunner().invoke(app, ["annotate", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result


def test_jsonl_csv_parquet_and_two_processes_agree(model, tmp_path):
    notes = write_jsonl(tmp_path / "notes.jsonl", [{"note_id": f"n{i}", "text": t} for i, t in enumerate(NOTES)])
    with (tmp_path / "notes.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ROW_ID", "TEXT"])
        writer.writerows([[f"n{i}", t] for i, t in enumerate(NOTES)])
    invoke(model, notes, tmp_path / "one.jsonl")
    invoke(model, tmp_path / "notes.csv", tmp_path / "two.parquet", "--n-process", 2, "--batch-size", 2)
    one = list(srsly.read_jsonl(tmp_path / "one.jsonl"))
    two = pd.read_parquet(tmp_path / "two.parquet").to_dict("records")
    assert key(one) == key(two) == expected_rows(model) and len(one) > 0
    assert all(0.5 <= r["score"] <= 1 for r in one)
    invoke(model, tmp_path / "two.parquet", tmp_path / "again.jsonl", "--text-field", "text")  # Parquet in
    again = list(srsly.read_jsonl(tmp_path / "again.jsonl"))
    assert {(r["text"], r["label"]) for r in again} <= {(r["text"], r["label"]) for r in one}


def test_dask_local_cluster_gives_the_same_findings(model, tmp_path):
    pd.DataFrame({"note_id": [f"n{i}" for i in range(len(NOTES))], "text": NOTES}).to_csv(tmp_path / "notes.csv", index=False)
    invoke(model, tmp_path / "notes.csv", tmp_path / "findings", "--dask", "local", "--id-field", "note_id")
    rows = pd.read_parquet(tmp_path / "findings").to_dict("records")
    assert sorted(key(rows)) == sorted(expected_rows(model))


def test_bad_output_format_says_what_to_fix(model, tmp_path):
    write_jsonl(tmp_path / "notes.jsonl", [{"text": NOTE}])
    result = CliRunner().invoke(app, ["annotate", str(model), str(tmp_path / "notes.jsonl"), str(tmp_path / "out.xlsx")])
    assert result.exit_code != 0 and "write findings to .jsonl or .parquet" in str(result.exception or result.output)
