"""The installable pipeline: built as the project's `package` command builds it, installed into
fresh virtual environments (packages come from PyPI), used the way a user would use it.

- spaCy 3.8 + the en_ad_signs wheel (which pulls in the ad-signs core wheel): nothing of the
  LLM stack gets installed, and `nlp(note)` gives the same findings as the trained pipeline;
- medspaCy 1.3.1 (spaCy 3.7, numpy < 2): the component added to `medspacy.load()`, next to
  ConText, on PyRuSH's sentences.
"""
import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import srsly

from ad_signs.taxonomy import load_taxonomy
from conftest import NOTE, ROOT, trained_nlp

pytestmark = pytest.mark.venv

USE_PIPELINE = """
import importlib.util, json, sys
import spacy
from spacy import displacy

nlp = spacy.load("en_ad_signs")
note = sys.argv[1]
doc = nlp(note)
piped = list(nlp.pipe([note, "", "Pt denies memory loss."] * 4, n_process=2))
print(json.dumps({
    "spacy": spacy.__version__,
    "pipes": nlp.pipe_names,
    "cats": doc.cats,
    "spans": [[s.text, s.label_] for s in doc.spans["ad_signs"]],
    "piped_cats_equal": piped[0].cats == doc.cats and len(piped) == 12,
    "html": "donepezil" in displacy.render(doc, style="span", options={"spans_key": "ad_signs"}),
    "installed": [m for m in ("ad_signs", "spacy_llm", "llama_cpp", "torch") if importlib.util.find_spec(m)],
}))
"""

WITH_MEDSPACY = """
import json, sys
from loguru import logger
logger.remove()  # PyRuSH logs every token at DEBUG
import medspacy, spacy
from medspacy.ner import TargetRule

nlp = medspacy.load()
nlp.get_pipe("medspacy_target_matcher").add([TargetRule("memory loss", "PROBLEM"), TargetRule("confusion", "PROBLEM")])
nlp.add_pipe("ad_signs", source=spacy.load("en_ad_signs"))
doc = nlp(sys.argv[1])
print(json.dumps({
    "spacy": spacy.__version__,
    "pipes": nlp.pipe_names,
    "sents": [s.text for s in doc.sents],
    "spans": [[s.text, s.label_] for s in doc.spans["ad_signs"]],
    "negated": {e.text: e._.is_negated for e in doc.ents},
    "cats": sorted(doc.cats),
}))
"""

MEDSPACY_NOTE = "Pt denies memory loss. Wife reports confusion at night. Continue donepezil 10 mg qhs."


def run(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def fresh_venv(path: Path, *requirements: str, find_links: Path) -> Path:
    venv.create(path, with_pip=True)
    python = path / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--find-links", find_links, *requirements)
    return python


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    """The two wheels, built with the commands of the project's `package` step."""
    tmp = tmp_path_factory.mktemp("package")
    model = tmp / "model-best"
    trained_nlp(extra_pipes=["clinical_sentencizer"]).to_disk(model)
    out = tmp / "packages"
    out.mkdir()
    run(sys.executable, "-m", "build", "--wheel", "--outdir", out, ".")
    run(sys.executable, "-m", "spacy", "package", model, out, "--name", "ad_signs", "--version", "0.1.0",
        "--meta-path", ROOT / "configs/meta.json", "--build", "wheel", "--force")
    (wheel,) = out.glob("en_ad_signs-0.1.0/dist/en_ad_signs-0.1.0-py3-none-any.whl")
    return {"model": model, "find_links": out, "wheel": wheel}


def test_meta_asks_for_the_core_library_and_spacy_37_or_38(wheels):
    meta = srsly.read_json(wheels["find_links"] / "en_ad_signs-0.1.0" / "meta.json")
    assert "ad-signs>=0.1.0,<0.2.0" in meta["requirements"] and meta["spacy_version"] == ">=3.7.5,<3.9.0"
    assert meta["pipeline"] == ["clinical_sentencizer", "ad_signs"]


def test_wheel_in_a_fresh_venv_needs_no_llm_stack(wheels, tmp_path):
    import spacy

    python = fresh_venv(tmp_path / "venv", str(wheels["wheel"]), find_links=wheels["find_links"])
    result = json.loads(run(python, "-c", USE_PIPELINE, NOTE, cwd=tmp_path))
    expected = spacy.load(wheels["model"])(NOTE)
    assert result["installed"] == ["ad_signs"], "only the core library may come with the pipeline"
    assert result["pipes"] == ["clinical_sentencizer", "ad_signs"]
    assert result["cats"] == pytest.approx(expected.cats)
    assert result["spans"] == [[s.text, s.label_] for s in expected.spans["ad_signs"]]
    assert ["Continue donepezil 10 mg qhs.", "AD_TREATMENT"] in result["spans"]
    assert result["piped_cats_equal"] and result["html"]


def test_medspacy_pipeline_with_the_component(wheels, tmp_path):
    python = fresh_venv(tmp_path / "venv", "medspacy==1.3.1", "spacy>=3.7.5,<3.8", "numpy<2", str(wheels["wheel"]),
                        find_links=wheels["find_links"])
    result = json.loads(run(python, "-c", WITH_MEDSPACY, MEDSPACY_NOTE, cwd=tmp_path))
    assert result["spacy"].startswith("3.7.")
    assert result["pipes"][-1] == "ad_signs" and "medspacy_context" in result["pipes"]
    assert result["negated"] == {"memory loss": True, "confusion": False}  # medspaCy's ConText
    assert {text for text, _ in result["spans"]} <= set(result["sents"])  # findings on PyRuSH's sentences
    assert ["Continue donepezil 10 mg qhs.", "AD_TREATMENT"] in result["spans"]
    assert len(result["cats"]) == len(load_taxonomy().labels)
