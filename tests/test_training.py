"""The one `spacy train` wrapper (ad_signs.training): in a child process (the overrides given as
CLI options) and in this process (spaCy's output in the log), each returning model-best; a run
that fails names its log."""
import pytest
import spacy
import srsly
from spacy.tokens import DocBin

from ad_signs.taxonomy import load_taxonomy
from ad_signs.training import TrainingError, logged_steps, train
from conftest import ROOT

CONFIG = ROOT / "configs/train_cnn.cfg"
# A few steps of a narrow CNN: what is under test is the wrapper, not the model.
SMALL = {"training.max_steps": 4, "training.eval_frequency": 2, "components.ad_signs.model.tok2vec.embed.width": 16,
         "components.ad_signs.model.tok2vec.encode.width": 16}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    taxonomy, nlp = load_taxonomy(), spacy.blank("en")
    rows = list(srsly.read_jsonl(ROOT / "assets/gold/train.jsonl"))[:40]
    folder = tmp_path_factory.mktemp("data")
    for name, part in (("train", rows[:30]), ("dev", rows[30:])):
        docs = [nlp.make_doc(row["text"]) for row in part]
        for doc, row in zip(docs, part):
            doc.cats = taxonomy.cats(row["labels"])
        DocBin(docs=docs).to_disk(folder / f"{name}.spacy")
    return {"paths.train": folder / "train.spacy", "paths.dev": folder / "dev.spacy"}


@pytest.mark.parametrize("in_process", [False, True])
def test_train_returns_model_best_with_the_overrides(data, tmp_path, in_process):
    best = train(CONFIG, tmp_path / "out", {**data, **SMALL, "system.seed": 3}, in_process=in_process)
    assert best == tmp_path / "out" / "model-best"
    config = spacy.load(best).config
    assert config["training"]["max_steps"] == 4 and config["system"]["seed"] == 3
    assert config["components"]["ad_signs"]["model"]["tok2vec"]["embed"]["width"] == 16
    assert logged_steps(tmp_path / "out" / "train.log") == (0, 4)  # spaCy's table went to the log


def test_a_failed_run_names_its_log(tmp_path):
    log = tmp_path / "failed.log"
    missing = tmp_path / "missing.spacy"
    with pytest.raises(TrainingError, match=str(log)):
        train(CONFIG, tmp_path / "out", {"paths.train": missing, "paths.dev": missing}, log=log)
    assert "missing.spacy" in log.read_text()
