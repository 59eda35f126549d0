"""The `ad_signs` component: trained like textcat_multilabel on sentences, applied to whole notes."""
import pytest
import spacy
import srsly
from spacy import displacy

from ad_signs.taxonomy import load_taxonomy
from conftest import NOTE, ROOT, trained_nlp


def test_a_note_gets_sentence_spans_and_note_scores():
    nlp = trained_nlp()
    doc = nlp(NOTE)
    spans = doc.spans["ad_signs"]
    assert set(doc.cats) == set(load_taxonomy().labels)
    assert {s.text for s in spans} <= {s.text.strip() for s in doc.sents}
    assert len(spans.attrs["scores"]) == len(spans) and all(s >= 0.5 for s in spans.attrs["scores"])
    for label, score in doc.cats.items():  # note score = best sentence score
        assert score >= max([sc for sp, sc in zip(spans, spans.attrs["scores"]) if sp.label_ == label], default=0)
    assert "AD_TREATMENT" in {s.label_ for s in spans if "donepezil" in s.text}
    html = displacy.render(doc, style="span", options={"spans_key": "ad_signs"})
    assert "donepezil" in html


def test_host_sentence_boundaries_are_respected_and_empty_notes_work():
    nlp = trained_nlp(extra_pipes=["sentencizer"])
    doc = nlp("Pt confused. Wife worried. Started donepezil.")
    assert [s.text for s in doc.sents] == ["Pt confused.", "Wife worried.", "Started donepezil."]
    empty = nlp("   ")
    assert len(empty.spans["ad_signs"]) == 0 and set(empty.cats.values()) == {0.0}


def test_pipeline_saves_loads_and_pipes(tmp_path):
    nlp = trained_nlp()
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    docs = list(loaded.pipe([NOTE, "BP 120/80."] * 3, batch_size=2))
    assert [d.cats for d in docs[:2]] == [nlp(NOTE).cats, nlp("BP 120/80.").cats]
    assert loaded.get_pipe("ad_signs").spans_key == "ad_signs"
    strict = spacy.load(tmp_path / "model", config={"components": {"ad_signs": {"threshold": 0.99, "spans_key": "ad"}}})
    assert strict.get_pipe("ad_signs").cfg["threshold"] == 0.99
    assert len(strict(NOTE).spans["ad"]) < len(loaded(NOTE).spans["ad_signs"])


def test_evaluate_command_writes_metrics(tmp_path):
    from typer.testing import CliRunner

    from ad_signs.cli import app
    from ad_signs.corpus import write_gold

    trained_nlp().to_disk(tmp_path / "model")
    write_gold(spacy.blank("en"), ROOT / "assets/gold/dev.jsonl", tmp_path / "dev.spacy", load_taxonomy())
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "model"), str(tmp_path / "dev.spacy"), str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    metrics = srsly.read_json(tmp_path / "m.json")
    assert metrics["n"] == len((ROOT / "assets/gold/dev.jsonl").read_text().splitlines()) and set(metrics["per_label"]) == set(load_taxonomy().labels)
    # the CLI reports what the metrics module computes on the same pipeline and gold
    from ad_signs.metrics import evaluate_pipeline
    from ad_signs.readers import read_docs

    direct = evaluate_pipeline(spacy.load(tmp_path / "model"), read_docs(tmp_path / "dev.spacy"))
    # (the JSON keeps fewer digits)
    assert direct["macro_f"] > 0 and metrics["macro_f"] == pytest.approx(direct["macro_f"], abs=1e-6)
    assert metrics["binary"]["f"] == pytest.approx(direct["binary"]["f"], abs=1e-6)
    assert {k: v["f"] for k, v in metrics["per_label"].items()} == pytest.approx({k: v["f"] for k, v in direct["per_label"].items()}, abs=1e-6)
    assert metrics["sentences_per_second"] > 0


def test_pipe_in_two_processes_gives_the_same_findings():
    nlp = trained_nlp(extra_pipes=["clinical_sentencizer"])
    notes = [NOTE, "Pt denies memory loss.", "", "BP 120/80.\nDaughter notes he repeats stories."] * 5
    one = [(d.cats, [(s.text, s.label_) for s in d.spans["ad_signs"]]) for d in nlp.pipe(notes, batch_size=4)]
    two = [(d.cats, [(s.text, s.label_) for s in d.spans["ad_signs"]]) for d in nlp.pipe(notes, batch_size=4, n_process=2)]
    assert two == one and len(one) == len(notes)


def test_notes_of_any_size_and_language():
    config = spacy.util.load_config(ROOT / "configs/train_cnn.cfg")
    assert spacy.util.load_model_from_config(config, auto_fill=True).max_length == 10_000_000  # [nlp.after_creation]
    nlp = trained_nlp(extra_pipes=["clinical_sentencizer"])
    nlp.max_length = 10_000_000
    huge = (NOTE + "\n") * (1_000_000 // len(NOTE) + 1)
    doc = nlp(huge)
    assert len(doc.text) > 1_000_000
    assert len(doc.spans["ad_signs"]) == len(nlp(NOTE).spans["ad_signs"]) * (1_000_000 // len(NOTE) + 1)
    foreign = nlp("Le patient est confus et désorienté. 患者は物忘れがひどい。\x00\ufffd")
    assert set(foreign.cats) == set(load_taxonomy().labels) and len(list(foreign.sents)) >= 1


def test_sentence_docs_carry_what_the_note_has():
    """Each sentence Doc gets the note's words, spaces, norms and whatever tags or lemmas an
    earlier component set; attributes nobody set stay at their defaults."""
    from ad_signs.pipeline import AdSignsClassifier

    nlp = spacy.blank("en")
    doc = nlp("Pt doesn't recall meds. Son worried.")
    plain = AdSignsClassifier._sentence_docs(doc, [(0, 6), (6, 9)])
    assert [d.text for d in plain] == ["Pt doesn't recall meds. ", "Son worried."]
    assert [t.norm_ for t in plain[0]] == [t.norm_ for t in doc[0:6]] and plain[0][2].norm_ == "not"  # a tokenizer exception's norm
    assert not any(d.has_annotation(attr) for d in plain for attr in ("TAG", "POS", "LEMMA", "MORPH"))
    for token in doc:
        token.tag_, token.pos_, token.lemma_ = "NN", "NOUN", token.lower_ + "-lemma"
    tagged = AdSignsClassifier._sentence_docs(doc, [(0, 6), (6, 9)])
    assert [(t.tag_, t.pos_, t.lemma_) for t in tagged[1]] == [(t.tag_, t.pos_, t.lemma_) for t in doc[6:9]]


def test_soft_targets_train_and_a_target_outside_0_1_is_a_clear_error():
    from spacy.training import Example

    nlp = trained_nlp()
    labels = load_taxonomy().labels
    doc = nlp.make_doc("Daughter thinks he may be forgetting appointments.")
    soft = Example(doc, doc.copy())
    soft.reference.cats = {label: 0.7 if label == "NOTICE_BY_OTHERS" else 0.05 for label in labels}
    before = nlp(doc.text).cats["NOTICE_BY_OTHERS"]
    for _ in range(5):
        nlp.update([soft])
    assert abs(nlp(doc.text).cats["NOTICE_BY_OTHERS"] - 0.7) < abs(before - 0.7)  # learned toward the soft target
    soft.reference.cats["DIAGNOSIS"] = 1.5
    with pytest.raises(ValueError, match=r"doc.cats\['DIAGNOSIS'\] is 1.5: a training target must be a probability"):
        nlp.update([soft])
