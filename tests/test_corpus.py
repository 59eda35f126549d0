import pytest
import spacy
from spacy.tokens import DocBin

from ad_signs.corpus import write_gold
from ad_signs.readers import InputError
from ad_signs.taxonomy import UnknownLabelError, load_taxonomy
from conftest import ROOT, write_jsonl


def test_gold_splits_become_complete_docbins(tmp_path):
    taxonomy = load_taxonomy()
    nlp = spacy.blank("en")
    for split in ("train", "dev", "test"):
        n = write_gold(nlp, ROOT / f"assets/gold/{split}.jsonl", tmp_path / f"{split}.spacy", taxonomy)
        docs = list(DocBin().from_disk(tmp_path / f"{split}.spacy").get_docs(nlp.vocab))
        assert len(docs) == n > 100
        assert all(set(d.cats) == set(taxonomy.labels) for d in docs)


def test_gold_errors_name_file_and_line(tmp_path):
    nlp, taxonomy = spacy.blank("en"), load_taxonomy()
    write_jsonl(tmp_path / "a.jsonl", [{"text": "ok", "labels": []}, {"text": "x", "labels": ["MEMORY"]}])
    with pytest.raises(UnknownLabelError, match=r"a.jsonl, line 2: Unknown label\(s\) \['MEMORY'\]"):
        write_gold(nlp, tmp_path / "a.jsonl", tmp_path / "a.spacy", taxonomy)
    write_jsonl(tmp_path / "b.jsonl", [{"sentence": "no text key"}])
    with pytest.raises(InputError, match="line 1: expected"):
        write_gold(nlp, tmp_path / "b.jsonl", tmp_path / "b.spacy", taxonomy)


def test_merge_concatenates_docbins_and_rejects_other_files(tmp_path):
    from typer.testing import CliRunner

    from ad_signs.cli import app

    nlp, taxonomy = spacy.blank("en"), load_taxonomy()
    write_gold(nlp, ROOT / "assets/gold/dev.jsonl", tmp_path / "a.spacy", taxonomy)
    write_gold(nlp, ROOT / "assets/gold/train.jsonl", tmp_path / "b.spacy", taxonomy)
    result = CliRunner().invoke(app, ["merge", str(tmp_path / "ab.spacy"), str(tmp_path / "a.spacy"), str(tmp_path / "b.spacy")])
    assert result.exit_code == 0, result.output
    docs = list(DocBin().from_disk(tmp_path / "ab.spacy").get_docs(nlp.vocab))
    assert len(docs) == 155 + 273 and docs[0].user_data["source"]["id"] == "dev:1"
    result = CliRunner().invoke(app, ["merge", str(tmp_path / "x.spacy"), str(ROOT / "assets/gold/dev.jsonl")])
    assert result.exit_code == 1
