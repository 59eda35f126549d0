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


def test_note_ids_are_unique_and_the_same_with_or_without_dask(model, tmp_path):
    from ad_signs.annotate import annotate_with_dask

    notes = write_jsonl(tmp_path / "notes.jsonl", [{"text": t, "ward": "A"} for t in NOTES])  # no id: a note is FILE:ROW
    invoke(model, notes, tmp_path / "one.jsonl")
    one = list(srsly.read_jsonl(tmp_path / "one.jsonl"))
    annotate_with_dask(str(model), notes, tmp_path / "findings", "text", None, "local", blocksize=120)
    import dask.dataframe as dd

    assert dd.read_json(notes, lines=True, blocksize=120).npartitions > 2  # several partitions, each restarting its index
    rows = pd.read_parquet(tmp_path / "findings").to_dict("records")
    assert sorted(key(rows)) == sorted(key(one)) and {r["note_id"] for r in one} <= {f"notes:{n}" for n in range(1, 13)}
    assert len({r["note_id"] for r in rows}) > 3  # before, each partition restarted at row 0 and ids repeated


def test_dask_keeps_multi_line_notes_of_a_csv_whole(model, tmp_path):
    from ad_signs.annotate import annotate_with_dask

    notes = tmp_path / "NOTEEVENTS.csv"  # MIMIC's notes span lines inside quoted fields
    pd.DataFrame({"ROW_ID": [f"n{i}" for i in range(len(NOTES))], "TEXT": NOTES}).to_csv(notes, index=False)
    assert sum("\n" in t for t in NOTES) >= 3
    annotate_with_dask(str(model), notes, tmp_path / "findings", "TEXT", None, "local", blocksize=400)
    rows = pd.read_parquet(tmp_path / "findings").to_dict("records")
    assert sorted(key(rows)) == sorted(expected_rows(model)) and not (tmp_path / ".findings.csv-parts").exists()


def test_id_field_names_the_note_without_dask_too(model, tmp_path):
    notes = write_jsonl(tmp_path / "notes.jsonl", [{"id": "x", "visit": f"v{i}", "text": t} for i, t in enumerate(NOTES)])
    invoke(model, notes, tmp_path / "out.jsonl", "--id-field", "visit")
    ids = {r["note_id"] for r in srsly.read_jsonl(tmp_path / "out.jsonl")}
    assert len(ids) > 3 and ids <= {f"v{i}" for i in range(len(NOTES))}
    result = CliRunner().invoke(app, ["annotate", str(model), str(notes), str(tmp_path / "o.jsonl"), "--id-field", "nope"])
    assert result.exit_code != 0 and "no id field 'nope'" in str(result.exception or result.output)


def test_bad_output_format_says_what_to_fix(model, tmp_path):
    write_jsonl(tmp_path / "notes.jsonl", [{"text": NOTE}])
    result = CliRunner().invoke(app, ["annotate", str(model), str(tmp_path / "notes.jsonl"), str(tmp_path / "out.xlsx")])
    assert result.exit_code == 1 and "write findings to .jsonl or .parquet" in " ".join(result.output.split())


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_an_interrupted_annotate_leaves_no_partial_file(tmp_path, suffix):
    from ad_signs.annotate import write_rows

    def rows():
        yield {"note_id": "n0", "sentence": 0, "start": 0, "end": 5, "text": "Conf.", "label": "DIAGNOSIS", "score": 0.9}
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_rows(rows(), tmp_path / f"findings{suffix}")
    assert list(tmp_path.iterdir()) == []


def test_patient_and_date_go_with_every_finding_and_bad_dates_are_counted(model, tmp_path):
    dates = ["2151-03-04", "2151-03-04 10:15:00", "", "soon"] * 3  # MIMIC date, date-time, missing, unparsable
    rows = [{"note_id": f"n{i}", "SUBJECT_ID": 100 + i % 2, "CHARTDATE": d, "TEXT": t} for i, (d, t) in enumerate(zip(dates, NOTES))]
    invoke(model, write_jsonl(tmp_path / "notes.jsonl", rows), tmp_path / "one.jsonl")
    found = list(srsly.read_jsonl(tmp_path / "one.jsonl"))
    by_note = {r["note_id"]: (r["patient_id"], r["note_date"]) for r in found}
    assert by_note["n0"] == ("100", "2151-03-04") and by_note["n3"] == ("101", None)
    summary = srsly.read_json(tmp_path / "one.summary.json")
    assert summary["dates"] == {"dated": 6, "missing": 3, "unparsable": 3} and summary["sensitive"] is True
    pd.DataFrame(rows).to_csv(tmp_path / "notes.csv", index=False)
    invoke(model, tmp_path / "notes.csv", tmp_path / "findings", "--dask", "local", "--text-field", "TEXT",
           "--id-field", "note_id", "--patient-field", "SUBJECT_ID", "--date-field", "CHARTDATE")
    dask_rows = pd.read_parquet(tmp_path / "findings").to_dict("records")
    assert {r["note_id"]: (r["patient_id"], r["note_date"]) for r in dask_rows} == by_note
