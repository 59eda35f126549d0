"""`progression`: patient timelines and cohort figures from annotate's findings."""
import subprocess
import sys

import pandas as pd
import pytest
import srsly

from ad_signs.progression import FindingsError, aggregate
from conftest import ROOT, write_jsonl


def finding(note, patient, date, label, score=0.9, sentence=0):
    return {"note_id": note, "patient_id": patient, "note_date": date, "sentence": sentence, "start": 0, "end": 4,
            "text": "text", "label": label, "score": score}


ROWS = [
    finding("a1", "A", "2150-01-01", "NOTICE_BY_OTHERS"),
    finding("a2", "A", "2151-01-01", "COGNITIVE_IMPAIRMENT"),
    finding("a3", "A", "2152-01-01", "COGNITIVE_IMPAIRMENT", sentence=1),
    finding("a3", "A", "2152-01-01", "DIAGNOSIS"),
    finding("b1", "B", "unknown", "DIAGNOSIS"),              # an unparsable date: counted, left out
    finding("b2", "B", "2160-05-01", "PHYSIOLOGICAL_CHANGES"),
    finding("b2", "B", "2160-05-01", "REQUIRES_ASSISTANCE", sentence=2),
    finding("c1", None, "2160-05-01", "DIAGNOSIS"),          # no patient: counted, left out
    finding("d1", "D", "2170-01-01", "DIAGNOSIS"),           # a diagnosis before any documented sign
    finding("d2", "D", "2171-01-01", "COGNITIVE_IMPAIRMENT"),
]


def test_patients_and_cohort_from_findings(tmp_path):
    progression = aggregate(write_jsonl(tmp_path / "findings.jsonl", ROWS))
    a = progression.patient("A")
    assert a["labels"]["COGNITIVE_IMPAIRMENT"] == {"first": "2151-01-01", "last": "2152-01-01", "notes": 2, "sentences": 2}
    assert a["onset_order"] == ["NOTICE_BY_OTHERS", "COGNITIVE_IMPAIRMENT", "DIAGNOSIS"]
    assert a["days_to_diagnosis"] == 730 and not a["signs_without_diagnosis"]
    b = progression.patient("B")  # same day: the guideline's label order
    assert b["onset_order"] == ["REQUIRES_ASSISTANCE", "PHYSIOLOGICAL_CHANGES"] and b["signs_without_diagnosis"]
    assert progression.patient("D")["days_to_diagnosis"] == -365
    cohort = progression.cohort()
    assert cohort["patients"] == 3 and cohort["rows_without_date"] == 1 and cohort["rows_without_patient"] == 1
    assert cohort["days_to_diagnosis"] == {"patients": 1, "median": 730, "q1": 730, "q3": 730, "diagnosis_first": 1}
    assert cohort["signs_without_diagnosis"] == 1 and cohort["patients_with_label"]["DIAGNOSIS"] == 2
    assert cohort["onset_positions"]["DIAGNOSIS"] == {1: 1, 3: 1}
    with pytest.raises(KeyError, match="No dated findings for patient Z"):
        progression.patient("Z")


def test_a_folder_of_parquet_parts_gives_the_same_result(tmp_path):
    (tmp_path / "parts").mkdir()
    for i, part in enumerate((ROWS[:4], ROWS[4:])):
        pd.DataFrame(part).to_parquet(tmp_path / "parts" / f"part.{i}.parquet")
    jsonl = aggregate(write_jsonl(tmp_path / "findings.jsonl", ROWS))
    parts = aggregate(tmp_path / "parts")
    assert all(parts.patient(p) == jsonl.patient(p) for p in "ABD") and parts.cohort() == jsonl.cohort()


def test_findings_without_patient_or_date_say_how_to_fix(tmp_path):
    old = write_jsonl(tmp_path / "old.jsonl", [{k: v for k, v in r.items() if k != "patient_id"} for r in ROWS])
    pd.DataFrame([{k: v for k, v in r.items() if k not in ("patient_id", "note_date")} for r in ROWS]).to_parquet(tmp_path / "old.parquet")
    with pytest.raises(FindingsError, match="no note_date, patient_id column.*--patient-field"):
        aggregate(tmp_path / "old.parquet")
    with pytest.raises(FindingsError, match="findings are .parquet or .jsonl"):
        aggregate(tmp_path / "x.csv" if (tmp_path / "x.csv").write_text("a") else None)
    assert old.exists()


def test_authored_patients_match_their_hand_checked_expectation(tmp_path):
    """Findings made from the authored patients' own sentence labels (assets/patients/), so that
    the aggregation is checked against a hand-computed expectation, whatever the classifier does."""
    folder = ROOT / "assets/patients"
    notes = {r["note_id"]: r for r in srsly.read_jsonl(folder / "notes.jsonl")}
    rows = [finding(g["note_id"], notes[g["note_id"]]["patient_id"], notes[g["note_id"]]["chart_date"], label, sentence=k)
            for k, g in enumerate(srsly.read_jsonl(folder / "findings_gold.jsonl")) for label in g["labels"]]
    progression = aggregate(write_jsonl(tmp_path / "findings.jsonl", rows))
    expected = srsly.read_json(folder / "expected.json")
    assert len(expected) >= 3
    for patient, facts in expected.items():
        assert progression.patient(patient) == facts, patient


def run(*args):
    result = subprocess.run([sys.executable, "-m", "ad_signs", "progression", *map(str, args)], capture_output=True, text=True)
    result.stdout = " ".join(result.stdout.split())  # wasabi wraps long messages
    return result


def test_report_and_patient_data_never_in_the_projects_reports(tmp_path):
    findings = write_jsonl(tmp_path / "findings.jsonl", ROWS)
    result = run(findings, tmp_path / "out", "--patient", "A")
    assert result.returncode == 0, result.stdout + result.stderr
    assert {"README.md", "progression.json", "patients.csv", "patient_labels.csv", "swimlane_A.png", "time_to_diagnosis.png",
            "onset_order.png"} <= {p.name for p in (tmp_path / "out").iterdir()}
    assert "1 finding rows without a parsable note date" in result.stdout
    project = tmp_path / "project"
    (project / "reports").mkdir(parents=True)
    (project / "project.yml").write_text("title: x\n")
    srsly.write_json(tmp_path / "findings.summary.json", {"sensitive": True})  # as annotate writes it for MIMIC notes
    result = run(findings, project / "reports" / "progression")
    assert result.returncode == 1 and "must not go into the project's committed reports/" in result.stdout
    assert not (project / "reports" / "progression").exists()
    result = run(findings, tmp_path / "private")
    assert result.returncode == 0 and "Patient data" in result.stdout
    result = run(findings, tmp_path / "out2", "--patient", "Z")
    assert result.returncode == 1 and "No dated findings for patient Z" in result.stdout and not (tmp_path / "out2").exists()
