"""ad_signs: Alzheimer's-disease signs and symptoms in clinical notes, with spaCy.

The LLM parts (data-to-label, label-to-data) live in `ad_signs.llm` and need the `[llm]` extra;
importing this package alone needs spaCy only.
"""
from . import pipeline, sentences  # noqa: F401  (registers the spaCy factories)
from .taxonomy import Taxonomy, TaxonomyError, load_taxonomy

__version__ = "0.1.0"
__all__ = ["Taxonomy", "TaxonomyError", "load_taxonomy", "__version__"]
