import json
import random
import re
from pathlib import Path
from typing import Dict, Iterable, List

import pytest
import srsly

ROOT = Path(__file__).parent.parent

BOW = {"@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": False, "ngram_size": 1, "no_output_layer": False}
NOTE = "HPI: 80 yo F.\nWife reports he gets lost driving and repeats questions.\nBP 120/80. Continue donepezil 10 mg qhs."


def trained_nlp(extra_pipes=()):
    """A small real `ad_signs` pipeline: bag-of-words, trained on the gold train split in seconds."""
    import spacy
    import srsly
    from spacy.training import Example

    from ad_signs.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    nlp = spacy.blank("en")
    for pipe in extra_pipes:
        nlp.add_pipe(pipe)
    nlp.add_pipe("ad_signs", config={"model": BOW, "threshold": 0.5})
    rows = list(srsly.read_jsonl(ROOT / "assets/gold/train.jsonl"))
    examples = [Example.from_dict(nlp.make_doc(r["text"]), {"cats": taxonomy.cats(r["labels"])}) for r in rows]
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.05  # a bag-of-words model: few, large steps are enough for a test
    random.Random(0).shuffle(examples)
    for _ in range(10):
        for batch in spacy.util.minibatch(examples, 16):
            nlp.update(batch, sgd=optimizer)
    return nlp


def prompt_sentence(prompt: str) -> str:
    """The sentence a labeling prompt asks about (label.v1 or v2); else the whole prompt."""
    from ad_signs.llm.models import ANSWER_START

    if ANSWER_START in prompt:
        return json.loads(prompt.rpartition(ANSWER_START)[2] + ' []}')["sentence"]
    match = re.findall(r"Sentence: (.*)\n", prompt)
    return match[-1] if match else prompt


class FakeLLM:
    """Test double for a spacy-llm model: answers each prompt from a script, deterministically.

    `answers` maps a sentence (the text after the prompt's last "Sentence:", or the one that starts
    the answer in a label.v2 prompt) to the raw answer;
    anything else gets `default`. Not a real model: used only where the LLM's quality is not
    under test (parsing, rejects, DocBin writing, caching).
    """

    def __init__(self, answers: Dict[str, str], default: str = '{"labels": []}'):
        self.answers = answers
        self.default = default
        self.prompts: List[str] = []

    def __call__(self, prompts: Iterable[Iterable[str]]) -> Iterable[Iterable[str]]:
        for doc_prompts in prompts:
            out = []
            for prompt in doc_prompts:
                self.prompts.append(prompt)
                key = prompt_sentence(prompt)
                out.append(self.answers.get(key, self.default))
            yield out


@pytest.fixture
def fake_llm_factory():
    """Build a spacy-llm pipeline (real task, real parser) around a FakeLLM."""
    import spacy

    def make(task_config: dict, llm: FakeLLM):
        nlp = spacy.blank("en")
        nlp.add_pipe(
            "llm",
            config={
                "task": task_config,
                "model": {"@llm_models": "spacy.NoOp.v1"},
                "cache": {"@llm_misc": "spacy.BatchCache.v1", "path": None},
                "save_io": True,
            },
        )
        nlp.get_pipe("llm")._model = llm  # swap the no-op model for the scripted test double
        return nlp

    return make


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf8")
    return path


@pytest.fixture(scope="session")
def encoders_dir(tmp_path_factory):
    """Both encoders, built from the real local all-MiniLM-L6-v2 as the `encoders` step builds them."""
    pytest.importorskip("model2vec")
    from ad_signs.encoder_build import build_encoders, static_vocabulary

    out = tmp_path_factory.mktemp("encoders")
    texts = [r["text"] for r in srsly.read_jsonl(ROOT / "assets/gold/train.jsonl")]
    build_encoders(out, vocabulary=static_vocabulary(texts))
    return out


@pytest.fixture(scope="session")
def gold_corpus(tmp_path_factory):
    import spacy

    from ad_signs.corpus import write_gold
    from ad_signs.taxonomy import load_taxonomy

    out = tmp_path_factory.mktemp("corpus")
    for split in ("train", "dev", "test"):
        write_gold(spacy.blank("en"), ROOT / f"assets/gold/{split}.jsonl", out / f"{split}.spacy", load_taxonomy())
    return out


def train_config(config: str, encoders: Path, corpus: Path, output: Path, **overrides) -> Path:
    """`spacy train` on the gold train split, then thresholds chosen on gold dev: the model-best."""
    from spacy.cli.train import train

    from ad_signs.calibration import calibrate
    from ad_signs.readers import read_docs

    train(ROOT / config, output, overrides={"paths.train": str(corpus / "train.spacy"), "paths.dev": str(corpus / "dev.spacy"),
                                            "paths.encoders": str(encoders), **overrides})
    calibrate(output / "model-best", read_docs(corpus / "dev.spacy"))
    return output / "model-best"
