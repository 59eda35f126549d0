"""Gold annotations (JSONL: {"text", "labels": [...]}) to spaCy DocBins for training, and the
reader that training configs use to read them back.

Every doc carries every label of the taxonomy in `doc.cats` (1.0 or 0.0): textcat_multilabel
treats a missing label as unknown, so dev and test docs must be complete.
"""
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Corpus, Example

from .readers import InputError, iter_jsonl, msgpack_hooks_resolved_once, write_docs
from .taxonomy import Taxonomy, UnknownLabelError


def gold_docs(nlp: Language, path: Union[str, Path], taxonomy: Taxonomy) -> Iterator[Doc]:
    """One doc per line. A line without text, with labels that are not a list of label names, or
    that repeats an earlier sentence with other labels is an error: gold is never guessed."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"Gold file not found: {path}")
    seen: Dict[str, Tuple[int, Set[str]]] = {}
    for n, row in iter_jsonl(path):
        labels = row.get("labels")
        if not isinstance(row.get("text"), str) or not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise InputError(f'{path}, line {n}: expected {{"text": "...", "labels": ["LABEL", ...]}}.')
        text = " ".join(row["text"].split())
        if not text:
            raise InputError(f"{path}, line {n}: the text is empty. Remove the line or write the sentence.")
        try:
            cats = taxonomy.cats(labels)
        except UnknownLabelError as err:
            raise UnknownLabelError(f"{path}, line {n}: {err}") from None
        first, first_labels = seen.setdefault(text.lower(), (n, set(labels)))
        if first_labels != set(labels):
            raise InputError(f"{path}, line {n}: the sentence of line {first} again, labelled {sorted(labels)} here and "
                             f"{sorted(first_labels)} there. Reconcile the two by the guideline and keep one.")
        doc = nlp.make_doc(text)
        doc.cats = cats
        doc.user_data["source"] = {"id": f"{path.stem}:{n}", **{k: v for k, v in row.items() if k not in ("text", "labels")}}
        yield doc


def write_gold(nlp: Language, path: Union[str, Path], output: Union[str, Path], taxonomy: Taxonomy) -> int:
    return write_docs(gold_docs(nlp, path, taxonomy), output)


class MemoryCorpus:
    """spaCy's `Corpus`, read once and kept in memory: spaCy reads a corpus from disk again for every
    epoch and every evaluation, and a DocBin decodes each doc's `user_data` (our provenance) with a
    lookup of msgpack's entry points (20 fast epochs on gold: 22.0 s with spaCy's reader, 18.6 s).
    The same examples come back each time; `Language.update` and `Language.evaluate` copy them."""

    def __init__(self, path: Union[str, Path], max_length: int = 0, limit: int = 0):
        self.corpus = Corpus(path, max_length=max_length, limit=limit)
        self.examples: Optional[List[Example]] = None
        self.vocab = None

    def __call__(self, nlp: Language) -> Iterator[Example]:
        if self.examples is None or self.vocab is not nlp.vocab:
            with msgpack_hooks_resolved_once():
                self.examples, self.vocab = list(self.corpus(nlp)), nlp.vocab
        return iter(self.examples)


def make_memory_corpus(path: Optional[Path], max_length: int = 0, limit: int = 0) -> Callable[[Language], Iterator[Example]]:
    """`ad_signs.Corpus.v1`: `spacy.Corpus.v1` (DocBins, without gold_preproc or an augmenter) read once."""
    return MemoryCorpus(path, max_length=max_length, limit=limit)
