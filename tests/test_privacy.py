"""Privacy check: each identifier kind is found, clinical values are not, placeholders are
reported apart; memorization finds copied spans exactly; the script reports per dataset."""
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from ad_signs.privacy import (
    MEMORIZED_WORDS,
    PLACEHOLDER,
    NgramIndex,
    longest_shared_ngram,
    privacy_report,
    scan_identifiers,
)
from ad_signs.text import words
from conftest import ROOT, write_jsonl


def found(text):
    return [(f.kind, f.text) for f in scan_identifiers(text)]


def identifiers(text):
    return [(kind, span) for kind, span in found(text) if kind != PLACEHOLDER]


@pytest.mark.parametrize("text, kind, span", [
    ("Seen with Mr. Smith today.", "name", "Smith"),
    ("Call Mrs O'Brien re: meds.", "name", "O'Brien"),
    ("Discussed with Ms. McDonald.", "name", "McDonald"),
    ("Dr. Anna Lee Neurology consulted.", "name", "Anna Lee"),  # the department is not the name
    ("Name: John Doe", "name", "John Doe"),
    ("Patient name: Doe, John", "name", "Doe, John"),
    ("**John Doe** notes that his **gait** has declined.", "name", "John Doe"),
    ("**Jane A. Smith** reports weight loss.", "name", "Jane A. Smith"),
    ("DOB 3/14/2021.", "date", "3/14/2021"),
    ("Seen 14-03-21 in clinic.", "date", "14-03-21"),
    ("MRI on 2021-03-14 showed atrophy.", "date", "2021-03-14"),
    ("Admitted 2151-7-16 with fever.", "date", "2151-7-16"),  # a shifted MIMIC year, unmasked
    ("Last seen March 14, 2021 in clinic.", "date", "March 14, 2021"),
    ("Fell on Jan. 3rd at home.", "date", "Jan. 3rd"),
    ("Seen 14 March 2021.", "date", "14 March 2021"),
    ("Symptoms began in March 2021.", "date", "March 2021"),
    ("Amyloid PET 3/2021 positive.", "date", "3/2021"),
    ("Call (617) 555-1234 with questions.", "phone", "(617) 555-1234"),
    ("Daughter's cell 617-555-1234.", "phone", "617-555-1234"),
    ("Fax 617.555.1234", "phone", "617.555.1234"),
    ("MRN: 4452981", "record_number", "MRN: 4452981"),
    ("Medical record no. 12-3456 on file.", "record_number", "Medical record no. 12-3456"),
    ("Acct #8812 billed.", "record_number", "Acct #8812"),
    ("Ref 20210314 in the chart.", "record_number", "20210314"),
    ("Lives alone at 12 Oak Street.", "address", "12 Oak Street"),
    ("Moved to 1600 Pennsylvania Ave last year.", "address", "1600 Pennsylvania Ave"),
    ("Son: jdoe@example.com", "email", "jdoe@example.com"),
    ("SSN 123-45-6789", "ssn", "123-45-6789"),
])
def test_identifier_kinds(text, kind, span):
    assert identifiers(text) == [(kind, span)]


@pytest.mark.parametrize("text", [
    "MMSE 24/30, MoCA 18/30, SLUMS 19/30, Mini-Cog 2/5, Tinetti 12/28.",
    "BP 142/88, HR 76, BP 120/80, RR 16, SpO2 97% RA, pain 3/10.",
    "A&Ox3, oriented x1, strength 5/5 throughout, recall 1/3, BCVA 20/200.",
    "Donepezil 10 mg q.d., memantine 10 mg b.i.d., Lisinopril-HCTZ 20/12.5 mg, Amox-clav 875/125 mg.",
    "ABG 7.12/28/72 on FiO2 0.6.",  # three numbers, but a blood gas, not a date
    "Na 138, K 4.1, Plt 250,000, WBC 7.2, Cr 1.4, HbA1c 6.8, 0.000001 g.",
    "NPN 1900-0700: slept 0100-0500; q4-6h PRN; 1-2 times a night; APOE e3/e4.",
    "Seen by Dr. on call; Dr. alone is no name; discussed with the Dr. at bedside.",
    "May 5 mg be given? Dec 2 tabs given.",  # a month word before a dose
    "**Memory Care** is a priority; **Supervision** needed; **Name** reports falls.",
    "**Alzheimer Disease** progression; **Name**: the patient needs help.",
    "Name: The patient is confused.",
    "Pt has MS and CKD stage 3; MR 2+ on echo; MRN pending.",
    "Walked 2 blocks on Main; 3 West unit.",
])
def test_clinical_text_has_no_identifiers(text):
    assert identifiers(text) == []


def test_placeholders_are_their_own_kind_and_hide_their_contents():
    text = ("Admission Date: [**2118-4-2**] Dr. [**Last Name (STitle) 2231**] Neurology; Name: ___ "
            "at [**Hospital1 18**], lives at [**Street Address 2**], tel [**Telephone/Fax (1) 7755**].")
    assert found(text) == [(PLACEHOLDER, p) for p in ("[**2118-4-2**]", "[**Last Name (STitle) 2231**]", "___",
                                                      "[**Hospital1 18**]", "[**Street Address 2**]",
                                                      "[**Telephone/Fax (1) 7755**]")]
    assert found("The patient, [**Name**], forgets names.") == [(PLACEHOLDER, "[**Name**]")]


def test_offsets_point_at_the_finding():
    text = "Mr. Smith (MRN 445298) called 617-555-1234 on 3/14/2021 about [**Name**]."
    findings = scan_identifiers(text)
    assert [f.kind for f in findings] == ["name", "record_number", "phone", "date", PLACEHOLDER]
    assert all(text[f.start : f.end] == f.text for f in findings)


def test_embedded_notes_and_gold_have_no_identifiers():
    """The data card: names, dates, numbers appear there only as placeholders. A regression
    guard against false positives on several hundred sentences of clinical style."""
    files = [ROOT / "assets/notes/sample_notes.jsonl", *sorted((ROOT / "assets/gold").glob("*.jsonl"))]
    texts = [json.loads(line)["text"] for path in files for line in path.read_text().splitlines() if line.strip()]
    assert len(texts) > 1000
    assert [(t[:60], identifiers(t)) for t in texts if identifiers(t)] == []
    assert sum(f.kind == PLACEHOLDER for t in texts for f in scan_identifiers(t)) > 100


NOTE = ("Pt is an 84 year old woman with a history of hypertension who was brought in by her daughter "
        "after she was found wandering outside her apartment building late at night without a coat.")


def test_copied_span_is_found_with_its_length():
    index = NgramIndex([NOTE, "Unrelated radiology report: lungs are clear."])
    copied = "Overnight she was found wandering outside her apartment building late at night again."
    assert longest_shared_ngram(copied, index) == 11  # "she was found ... late at night"
    length, start = index.longest(words(copied))
    assert words(copied)[start : start + length] == words("she was found wandering outside her apartment building late at night")
    assert longest_shared_ngram(NOTE, index) == len(words(NOTE))  # the whole note: no cap on lengths
    assert longest_shared_ngram("Scored 18/30 on the MoCA, donepezil started.", index) <= 1
    assert longest_shared_ngram("Zebra quantum xylophone.", index) == 0
    assert longest_shared_ngram("", index) == 0


def test_longest_shared_ngram_is_exact():
    """Against brute force, on texts that share spans of every length with the references."""
    rng = random.Random(0)
    refs = [json.loads(line)["text"] for line in (ROOT / "assets/notes/sample_notes.jsonl").read_text().splitlines()[:20]]
    ref_words = [words(t) for t in refs]
    vocab = [w for r in ref_words for w in r]
    index = NgramIndex(refs, seed=3)

    def brute(query):
        return max((n for r in ref_words for i in range(len(query)) for j in range(len(r))
                    for n in [next((k for k in range(len(query) - i + 1) if query[i : i + k] != r[j : j + k]), len(query) - i + 1) - 1]),
                   default=0)

    for _ in range(60):
        source = rng.choice(ref_words)
        i = rng.randrange(len(source))
        query = rng.sample(vocab, rng.randrange(4)) + source[i : i + rng.randrange(12)] + rng.sample(vocab, rng.randrange(4))
        assert index.longest(query)[0] == brute(query), query


def test_privacy_report_counts_and_examples():
    texts = [
        "**John Doe** reports he forgets appointments.",
        "Mr. Smith seen on 3/14/2021 with wife.",
        "The patient, [**Name**], repeats questions.",
        "After " + NOTE,  # the whole note, copied
        "MoCA 18/30, BP 142/88.",
    ]
    report = privacy_report(texts, [NOTE])
    ids, mem = report["identifiers"], report["memorization"]
    assert report["sentences"] == 5
    assert ids["sentences"] == 2 and ids["share"] == pytest.approx(0.4)
    assert ids["kinds"] == {"name": 2, "date": 1, "phone": 0, "record_number": 0, "address": 0, "email": 0, "ssn": 0}
    assert [(e["kind"], e["text"]) for e in ids["examples"]] == [("name", "John Doe"), ("name", "Smith"), ("date", "3/14/2021")]
    assert report["placeholders"] == {"sentences": 1, "count": 1, "forms": {"[**Name**]": 1}}
    assert mem["threshold"] == MEMORIZED_WORDS and mem["reference_texts"] == 1
    assert mem["sentences"] == 1 and mem["max"] == mem["p99"] == len(words(NOTE))
    assert mem["examples"][0]["length"] == len(words(NOTE)) and mem["examples"][0]["text"] == texts[3]
    assert len(privacy_report(["Mr. Smith, Mr. Jones, Mrs. Brown."] * 5, [], examples=4)["identifiers"]["examples"]) == 4
    empty = privacy_report([], [])
    assert empty["sentences"] == 0 and empty["memorization"]["max"] == 0 and empty["identifiers"]["share"] == 0.0


def write_docbin(path, texts):
    nlp = spacy.blank("en")
    DocBin(docs=[nlp.make_doc(t) for t in texts]).to_disk(path)
    return path


def test_script_reports_per_dataset(tmp_path):
    notes = write_jsonl(tmp_path / "notes.jsonl", [{"note_id": "n1", "text": NOTE + "\nFollow-up with Dr. [**Last Name 12**]."}])
    silver = write_docbin(tmp_path / "silver.spacy", [NOTE, "Follow-up with Dr. [**Last Name 12**]."])
    bronze = write_docbin(tmp_path / "bronze.spacy", [
        "**Jane Smith** was found wandering outside her apartment building late at night.",  # a name, a copied span
        "The patient, [**Name**], cannot recall the date.",
        "Pt keeps misplacing her keys.",
    ])
    gold = write_docbin(tmp_path / "train.spacy", ["Pt keeps misplacing her glasses and keys."])
    out = tmp_path / "out" / "privacy.json"
    args = [sys.executable, str(ROOT / "scripts/privacy_check.py"), str(out), "--dataset", f"silver={silver}",
            "--dataset", f"bronze={bronze}", "--reference", str(notes), "--reference", str(gold),
            "--source", f"silver={notes}"]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bronze" in done.stdout and "Jane Smith" in done.stdout
    result = json.loads(out.read_text())
    assert result["threshold"] == MEMORIZED_WORDS and result["references"] == {str(notes): 1, str(gold): 1}
    silver_report, bronze_report = result["datasets"]["silver"], result["datasets"]["bronze"]
    # silver: checked against gold only (its own notes would match every sentence whole)
    assert silver_report["memorization"]["against"] == [str(gold)]
    assert silver_report["memorization"]["sentences"] == 0
    assert silver_report["placeholders"]["count"] == 1 and silver_report["identifiers"]["sentences"] == 0
    # bronze: checked against the notes and gold
    assert bronze_report["memorization"]["against"] == [str(notes), str(gold)]
    assert bronze_report["memorization"]["sentences"] == 1 and bronze_report["memorization"]["max"] == 10
    assert bronze_report["identifiers"]["kinds"]["name"] == 1 and bronze_report["placeholders"]["count"] == 1


def test_script_options_need_name_and_path():
    import importlib.util

    import typer

    spec = importlib.util.spec_from_file_location("privacy_check", ROOT / "scripts/privacy_check.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.name_path("bronze=corpus/bronze.spacy", "--dataset") == ("bronze", Path("corpus/bronze.spacy"))
    for value in ("corpus/bronze.spacy", "=x.spacy", "bronze="):
        with pytest.raises(typer.BadParameter, match="NAME=PATH"):
            script.name_path(value, "--dataset")
