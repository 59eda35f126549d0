import pytest
import spacy
import srsly
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


@pytest.mark.parametrize("rows, message", [
    ([{"text": "  ", "labels": []}], "line 1: the text is empty"),
    ([{"text": "Pt lost.", "labels": [["DIAGNOSIS"]]}], "line 1: expected"),
    ([{"text": "Pt lost.", "labels": "DIAGNOSIS"}], "line 1: expected"),
    ([{"text": "Pt got lost.", "labels": ["COGNITIVE_IMPAIRMENT"]}, {"text": "Pt got  lost.", "labels": []}],
     r"line 2: the sentence of line 1 again, labelled \[\] here and \['COGNITIVE_IMPAIRMENT'\] there"),
])
def test_gold_is_never_guessed(tmp_path, rows, message):
    """Empty sentences, labels that are not a list of names, and one sentence with two label sets
    are errors naming the line; an exact repeat with the same labels is kept."""
    write_jsonl(tmp_path / "g.jsonl", rows)
    with pytest.raises(InputError, match=message):
        write_gold(spacy.blank("en"), tmp_path / "g.jsonl", tmp_path / "g.spacy", load_taxonomy())
    write_jsonl(tmp_path / "same.jsonl", [{"text": "Pt lost.", "labels": []}] * 2)
    assert write_gold(spacy.blank("en"), tmp_path / "same.jsonl", tmp_path / "same.spacy", load_taxonomy()) == 2


def test_merge_concatenates_docbins_and_rejects_other_files(tmp_path):
    from typer.testing import CliRunner

    from ad_signs.cli import app

    nlp, taxonomy = spacy.blank("en"), load_taxonomy()
    write_gold(nlp, ROOT / "assets/gold/dev.jsonl", tmp_path / "a.spacy", taxonomy)
    write_gold(nlp, ROOT / "assets/gold/train.jsonl", tmp_path / "b.spacy", taxonomy)
    result = CliRunner().invoke(app, ["merge", str(tmp_path / "ab.spacy"), str(tmp_path / "a.spacy"), str(tmp_path / "b.spacy")])
    assert result.exit_code == 0, result.output
    docs = list(DocBin().from_disk(tmp_path / "ab.spacy").get_docs(nlp.vocab))
    lines = sum(len((ROOT / f"assets/gold/{split}.jsonl").read_text().splitlines()) for split in ("dev", "train"))
    assert len(docs) == lines and docs[0].user_data["source"]["id"] == "dev:1"
    result = CliRunner().invoke(app, ["merge", str(tmp_path / "x.spacy"), str(ROOT / "assets/gold/dev.jsonl")])
    assert result.exit_code == 1


def test_no_gold_train_or_dev_sentence_repeats_a_test_sentence():
    """The test split stays unseen: no train or dev sentence is a copy or near copy (word-trigram
    Jaccard >= 0.5, the bar round 2 was deduplicated with; assets/README.md) of a test sentence."""
    from ad_signs.filters import NearDuplicateIndex

    index = NearDuplicateIndex(threshold=0.5)
    for row in srsly.read_jsonl(ROOT / "assets/gold/test.jsonl"):
        index.add(row["text"])
    near = [row["text"] for split in ("train", "dev") for row in srsly.read_jsonl(ROOT / f"assets/gold/{split}.jsonl")
            if index.match(row["text"])]
    assert near == []


def test_memory_corpus_reads_its_docbin_once_and_gives_spacys_examples(tmp_path, monkeypatch):
    """`ad_signs.Corpus.v1` in the training configs: the examples of `spacy.Corpus.v1`, every epoch,
    from one read of the file."""
    from spacy.training import Corpus

    nlp, taxonomy = spacy.blank("en"), load_taxonomy()
    write_gold(nlp, ROOT / "assets/gold/dev.jsonl", tmp_path / "dev.spacy", taxonomy)
    expected = [(eg.reference.text, eg.reference.cats) for eg in Corpus(tmp_path / "dev.spacy")(nlp)]
    corpus = spacy.registry.readers.get("ad_signs.Corpus.v1")(tmp_path / "dev.spacy")
    reads, read_docbin = [], Corpus.read_docbin

    def counted(self, *args):
        reads.append(args)
        return read_docbin(self, *args)

    monkeypatch.setattr(Corpus, "read_docbin", counted)
    for _ in range(3):
        assert [(eg.reference.text, eg.reference.cats) for eg in corpus(nlp)] == expected
    assert len(reads) == 1
