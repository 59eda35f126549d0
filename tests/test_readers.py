import csv
import gzip
import json
import re

import pytest
import spacy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def test_mimic_files_as_physionet_ships_them(tmp_path):
    """MIMIC-III NOTEEVENTS.csv and MIMIC-IV-Note discharge.csv: their real column names, quoted
    multi-line notes, and gzipped (.csv.gz) as downloaded."""
    mimic3 = ["ROW_ID", "SUBJECT_ID", "HADM_ID", "CHARTDATE", "CHARTTIME", "STORETIME", "CATEGORY",
              "DESCRIPTION", "CGID", "ISERROR", "TEXT"]
    mimic4 = ["note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text"]
    note3 = "Admission Date:  [**2151-7-16**]\nHPI: pt. w/ h/o dementia, \"confused\" at night."
    note4 = "Name:  ___  Unit No:   ___\n \nChief Complaint:\nmemory loss\n \nHistory of Present Illness:\nDaughter reports repeating questions."
    with gzip.open(tmp_path / "NOTEEVENTS.csv.gz", "wt", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(mimic3)
        writer.writerow(["174", "22532", "167853", "2151-08-04", "", "", "Discharge summary", "Report", "", "", note3])
    with (tmp_path / "discharge.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(mimic4)
        writer.writerow(["10000032-DS-21", "10000032", "22595853", "DS", "21", "2180-05-07 00:00:00", "2180-05-09 15:26:00", note4])
    (r3,) = read_records(tmp_path / "NOTEEVENTS.csv.gz")
    (r4,) = read_records(tmp_path / "discharge.csv")
    assert (r3.id, r3.text, r3.meta["CATEGORY"]) == ("174", note3, "Discharge summary")
    assert (r4.id, r4.text, r4.meta["note_type"]) == ("10000032-DS-21", note4, "DS")
    sentences = [d.text for d in sentence_docs(spacy.blank("en"), [r4])]
    assert sentences == ["Name: ___ Unit No: ___", "Chief Complaint:", "memory loss", "History of Present Illness:",
                         "Daughter reports repeating questions."]


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
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(InputError, match="unsupported format '.xlsx'"):
        list(read_records(tmp_path / "x.xlsx"))
    (tmp_path / "x.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="not a Parquet file"):
        list(read_records(tmp_path / "x.parquet"))
    with pytest.raises(InputError, match="not found"):
        list(read_records(tmp_path / "missing.jsonl"))


def test_encodings_and_compression_are_checked_not_guessed(tmp_path):
    """A byte-order mark is dropped; UTF-16, bytes that are not UTF-8, a gzip without .gz, a .gz
    that is not gzip or is cut short: one InputError naming the file (and the line) and the fix."""
    (tmp_path / "bom.csv").write_bytes("\ufeffTEXT\nPt confused.\n".encode("utf8"))
    assert [r.text for r in read_records(tmp_path / "bom.csv")] == ["Pt confused."]
    (tmp_path / "u16.jsonl").write_bytes('{"text": "Pt confused."}\n'.encode("utf-16"))
    (tmp_path / "latin1.csv").write_bytes(b"TEXT\nok\nPt \xe9tait confus.\n")
    (tmp_path / "zipped.jsonl").write_bytes(gzip.compress(b'{"text": "x"}\n'))
    (tmp_path / "plain.jsonl.gz").write_bytes(b'{"text": "x"}\n')
    zipped = gzip.compress("".join(f'{{"text": "note {i}"}}\n' for i in range(5000)).encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(zipped[: len(zipped) // 2])
    (tmp_path / "nul.csv").write_bytes(b"TEXT\nPt \x00 confused.\n")
    (tmp_path / "ragged.csv").write_bytes(b"id,TEXT\n1,Pt confused, agitated\n")
    expected = {"u16.jsonl": "UTF-16 text. Save it as UTF-8", "latin1.csv": "latin1.csv, line 3: not UTF-8",
                "zipped.jsonl": "gzip-compressed, but its name does not end in .gz",
                "plain.jsonl.gz": "not a gzip file", "cut.jsonl.gz": "truncated or corrupt after line",
                "ragged.csv": "line 2: the row does not have the header's 2 columns"}
    for name, message in expected.items():
        with pytest.raises(InputError, match=re.escape(message)):
            list(read_records(tmp_path / name))
    assert [r.text for r in read_records(tmp_path / "nul.csv")] == ["Pt \x00 confused."]  # kept as it is


FIELD_VALUES = st.one_of(st.text(st.characters(blacklist_categories=("Cs",))), st.none(), st.integers(), st.floats(allow_nan=False), st.booleans(),
                         st.lists(st.text(max_size=3), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(FIELD_VALUES, min_size=1, max_size=4), kind=st.sampled_from(["jsonl", "jsonl.gz", "parquet"]),
       cut=st.none() | st.integers(min_value=0, max_value=200))
def test_any_field_value_is_read_exactly_or_refused_clearly(tmp_path, values, kind, cut):
    """Whatever a text field holds and however the file is cut short, reading gives the texts
    exactly as written (a null as '') or an InputError that names the file; never another
    exception, never a value coerced into text."""
    path = tmp_path / f"notes.{kind}"
    rows = [{"note_id": str(i), "text": v} for i, v in enumerate(values)]
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            pq.write_table(pa.Table.from_pylist(rows), path)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            return  # a column of mixed types (or an integer beyond 64 bits) cannot be stored in Parquet at all
    else:
        data = "".join(json.dumps(r) + "\n" for r in rows).encode("utf8")
        path.write_bytes(gzip.compress(data) if kind.endswith(".gz") else data)
    if cut is not None:
        path.write_bytes(path.read_bytes()[:cut])
    try:
        texts = [r.text for r in read_records(path)]
    except InputError as err:
        assert str(path) in str(err)
        return
    assert cut is not None or texts == [v or "" for v in values]
    assert all(isinstance(v, str) or v is None for v in values[:len(texts)])


def test_docbins_round_trip_with_cats_and_user_data_all_or_nothing(tmp_path):
    from ad_signs.readers import FORMATS, read_docs, write_docs

    nlp = spacy.blank("en")
    doc = nlp.make_doc("Pt gets lost driving.")
    doc.cats = {"COGNITIVE_IMPAIRMENT": 1.0, "DIAGNOSIS": 0.0}
    doc.user_data["source"] = {"id": "n1", "sensitive": True}
    assert write_docs([doc], tmp_path / "s.spacy") == 1 and [p.name for p in tmp_path.iterdir()] == ["s.spacy"]
    (back,) = read_docs(tmp_path / "s.spacy", nlp)
    assert (back.text, back.cats, back.user_data["source"]) == (doc.text, doc.cats, doc.user_data["source"])
    assert [r.sensitive for r in read_records(tmp_path / "s.spacy")] == [True]  # the .spacy row of FORMATS
    assert ".spacy" in FORMATS and ".csv.gz" in FORMATS
    with pytest.raises(InputError, match="Input not found"):
        read_docs(tmp_path / "none.spacy")
    (tmp_path / "notes.spacy").write_text('{"text": "not a DocBin"}\n')
    with pytest.raises(InputError, match="not a spaCy DocBin"):
        read_docs(tmp_path / "notes.spacy")


def test_msgpack_hooks_are_looked_up_once_in_a_block_with_the_same_bytes(tmp_path, monkeypatch):
    """Inside `msgpack_hooks_resolved_once` srsly's encoders and decoders (numpy's among them) are
    resolved once, not for every doc; a DocBin comes out byte for byte the same; nested blocks
    give the registries their own lookup back only at the end of the outermost."""
    import numpy
    import srsly
    from catalogue import Registry
    from srsly import msgpack

    from ad_signs.readers import msgpack_hooks_resolved_once, read_docs, write_docs

    nlp = spacy.blank("en")
    docs = [nlp.make_doc(f"Sentence {i}.") for i in range(20)]
    for i, doc in enumerate(docs):
        doc.user_data["source"] = {"id": i, "vector": numpy.arange(3.0) * i}
    write_docs(docs, tmp_path / "once.spacy")
    lookups = []
    get_all = Registry.get_all
    monkeypatch.setattr(Registry, "get_all", lambda self: lookups.append(self.namespace) or get_all(self))
    with msgpack_hooks_resolved_once():
        with msgpack_hooks_resolved_once():
            back = read_docs(tmp_path / "once.spacy", nlp)
        assert "get_all" in vars(msgpack.msgpack_decoders)  # still resolved in the outer block
        srsly.msgpack_dumps({"a": 1})
    assert lookups.count(("srsly", "msgpack_decoders")) == 1 and lookups.count(("srsly", "msgpack_encoders")) == 1
    assert "get_all" not in vars(msgpack.msgpack_encoders) and "get_all" not in vars(msgpack.msgpack_decoders)
    assert all(numpy.array_equal(b.user_data["source"]["vector"], d.user_data["source"]["vector"]) for b, d in zip(back, docs))
    monkeypatch.undo()
    from spacy.tokens import DocBin

    DocBin(store_user_data=True, docs=docs).to_disk(tmp_path / "spacy.spacy")  # spaCy's own writer, lookups per doc
    assert (tmp_path / "once.spacy").read_bytes() == (tmp_path / "spacy.spacy").read_bytes()
