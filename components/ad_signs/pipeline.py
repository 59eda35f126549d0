"""The `ad_signs` pipeline component: a whole note in, per-sentence findings and note scores out.

A multi-label text classifier trained on sentences (it is spaCy's `textcat_multilabel`, same
model, training and scoring), applied at run time to each sentence of a note:
- `doc.spans["ad_signs"]`: one span per (sentence, label) whose score reaches the label's
  threshold, with the scores in `doc.spans["ad_signs"].attrs["scores"]`;
- `doc.cats`: note-level scores, for each label the highest score of any sentence.
Sentence boundaries a host pipeline already set (medspaCy's PyRuSH, spaCy's senter) are
used as they are; otherwise the clinical splitter of `ad_signs.sentences` sets them.

Decisions: `operating_points` holds named sets of per-label thresholds (the project's `calibrate`
step chooses "f1" and "screening" on gold dev) and `operating_point` picks one; a label without
its own threshold, or every label when `operating_point` is null, uses `threshold` (the key
`spacy find-threshold` tunes). All are validated when the pipeline is built or loaded.
"""
import math
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy
from spacy.attrs import IS_SPACE, LEMMA, MORPH, NORM, ORTH, POS, SENT_START, SPACY, TAG
from spacy.language import Language
from spacy.pipeline.textcat_multilabel import DEFAULT_MULTI_TEXTCAT_MODEL, MultiLabel_TextCategorizer
from spacy.scorer import Scorer
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example
from spacy.util import registry
from spacy.vocab import Vocab
from thinc.api import Model

from .sentences import ClinicalSentencizer

DEFAULT_SPANS_KEY = "ad_signs"
SENTENCE_ATTRS = [NORM, LEMMA, TAG, POS, MORPH]  # copied from the note to each sentence Doc


@registry.callbacks("ad_signs.max_length.v1")
def make_max_length(max_length: int) -> Callable[[Language], Language]:
    """`[nlp.after_creation]`: let long notes through. spaCy refuses texts over 1,000,000
    characters by default to protect the memory of a parser or NER; this pipeline has neither,
    and its memory grows linearly with the text."""

    def set_max_length(nlp: Language) -> Language:
        nlp.max_length = max_length
        return nlp

    return set_max_length


@Language.factory(
    "ad_signs",
    assigns=["doc.cats", "doc.spans"],
    default_config={
        "model": DEFAULT_MULTI_TEXTCAT_MODEL,
        "threshold": 0.5,
        "operating_point": "f1",
        "operating_points": {},
        "spans_key": DEFAULT_SPANS_KEY,
        "scorer": {"@scorers": "ad_signs.scorer.v1"},
    },
    default_score_weights={"cats_macro_f": 1.0, "cats_micro_f": 0.0, "cats_macro_auc": 0.0},
)
def make_ad_signs(
    nlp: Language, name: str, model: Model, threshold: float, operating_point: Optional[str],
    operating_points: Dict[str, Dict[str, float]], spans_key: str, scorer: Optional[Callable],
) -> "AdSignsClassifier":
    return AdSignsClassifier(nlp.vocab, model, name, threshold=threshold, operating_point=operating_point,
                            operating_points=operating_points, spans_key=spans_key, scorer=scorer)


@registry.scorers("ad_signs.scorer.v1")
def make_scorer() -> Callable:
    return score_findings


def score_findings(examples: Iterable[Example], *, labels: Iterable[str], threshold: float, operating_point: Optional[str] = None,
                   operating_points: Optional[Dict[str, Dict[str, float]]] = None, **cfg) -> Dict[str, object]:
    """spaCy's `cats_*` scores (`spacy evaluate`, training) with each label decided at its own
    threshold (the AUC from the raw scores), and the binary view, any label vs none:
    `cats_binary_p`, `cats_binary_r`, `cats_binary_f`."""
    examples, labels = list(examples), list(labels)
    point = (operating_points or {}).get(operating_point) or {}
    cutoffs = {label: point.get(label, threshold) for label in labels}
    decided = []
    for eg in examples:
        doc = eg.predicted.copy()
        doc.cats = {label: float(doc.cats.get(label, 0.0) >= cutoffs[label]) for label in labels}
        decided.append(Example(doc, eg.reference))
    scores = Scorer.score_cats(decided, "cats", labels=labels, multi_label=True, threshold=0.5)
    scores["cats_macro_auc"] = Scorer.score_cats(examples, "cats", labels=labels, multi_label=True)["cats_macro_auc"]
    gold = [any(eg.reference.cats.get(label, 0.0) >= 0.5 for label in labels) for eg in examples]
    pred = [any(value >= 0.5 for value in eg.predicted.cats.values()) for eg in decided]
    tp = sum(g and p for g, p in zip(gold, pred))
    p = tp / sum(pred) if sum(pred) else 0.0
    r = tp / sum(gold) if sum(gold) else 0.0
    scores.update(cats_binary_p=p, cats_binary_r=r, cats_binary_f=2 * p * r / (p + r) if p + r else 0.0)
    return scores


class ThresholdError(ValueError):
    """A decision threshold that is not a number in [0, 1], or an unknown label or operating point."""


def _check_threshold(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 1:
        raise ThresholdError(f"ad_signs: {where} must be a number between 0 and 1, not {value!r}.")
    return float(value)


def check_decisions(threshold, operating_point, operating_points, labels: Iterable[str] = ()) -> None:
    """Raise `ThresholdError` naming the setting to fix (see the module docstring)."""
    _check_threshold(threshold, "threshold")
    if not isinstance(operating_points, dict):
        raise ThresholdError(f"ad_signs: operating_points must map names to {{label: threshold}}, not {operating_points!r}.")
    for name, thresholds in operating_points.items():
        if not isinstance(thresholds, dict):
            raise ThresholdError(f"ad_signs: operating_points.{name} must map labels to thresholds, not {thresholds!r}.")
        for label, value in thresholds.items():
            _check_threshold(value, f"operating_points.{name}.{label}")
        unknown = sorted(set(thresholds) - set(labels)) if labels else []
        if unknown:
            raise ThresholdError(f"ad_signs: operating_points.{name} names label(s) {unknown} that the component "
                                 f"does not predict; its labels: {', '.join(labels)}.")
    if operating_point is not None and operating_points and operating_point not in operating_points:
        raise ThresholdError(f"ad_signs: unknown operating_point {operating_point!r}; choose one of "
                             f"{sorted(operating_points)} or null (the single `threshold` for every label).")


class AdSignsClassifier(MultiLabel_TextCategorizer):
    """Multi-label sentence classifier that annotates whole notes (see the module docstring)."""

    SETTINGS = ("threshold", "operating_point", "operating_points", "spans_key")

    def __init__(self, vocab: Vocab, model: Model, name: str = "ad_signs", *, threshold: float,
                 operating_point: Optional[str] = "f1", operating_points: Optional[Dict[str, Dict[str, float]]] = None,
                 spans_key: str = DEFAULT_SPANS_KEY, scorer: Optional[Callable] = None):
        operating_points = {} if operating_points is None else operating_points
        check_decisions(threshold, operating_point, operating_points)
        super().__init__(vocab, model, name, threshold=threshold, scorer=scorer)
        self.cfg.update(operating_point=operating_point, operating_points=operating_points, spans_key=spans_key)
        self._splitter = ClinicalSentencizer()

    def _validate_categories(self, examples: Iterable[Example]) -> None:
        """A training target may be soft, a teacher's probability (`filter --soft`): any value in
        [0, 1], which the loss (score - target) takes as it is; spaCy's own check wants 0 or 1."""
        for eg in examples:
            for label, value in eg.reference.cats.items():
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"doc.cats[{label!r}] is {value}: a training target must be a probability in [0, 1].")

    @property
    def thresholds(self) -> Dict[str, float]:
        """The decision threshold of each label, as the settings give it."""
        point = self.cfg.get("operating_points", {}).get(self.cfg.get("operating_point")) or {}
        return {label: float(point.get(label, self.cfg["threshold"])) for label in self.labels}

    @property
    def spans_key(self) -> str:
        return self.cfg.get("spans_key", DEFAULT_SPANS_KEY)

    # The settings come from the config, so that `spacy.load(..., config={"components":
    # {"ad_signs": {"threshold": 0.7}}})` takes effect; the labels come from the saved pipe.
    def _keep_settings(self, load: Callable, *args, **kwargs) -> "AdSignsClassifier":
        settings = {key: self.cfg[key] for key in self.SETTINGS}
        load(*args, **kwargs)
        self.cfg.update(settings)
        check_decisions(*(self.cfg[key] for key in self.SETTINGS[:3]), labels=self.labels)
        return self

    def from_disk(self, path, *, exclude=tuple()) -> "AdSignsClassifier":
        return self._keep_settings(super().from_disk, path, exclude=exclude)

    def from_bytes(self, bytes_data, *, exclude=tuple()) -> "AdSignsClassifier":
        return self._keep_settings(super().from_bytes, bytes_data, exclude=exclude)

    def _sentences(self, doc: Doc) -> List[Tuple[int, int]]:
        """The note's sentences as token (start, end), without the whitespace tokens (line
        breaks) at their edges."""
        if not len(doc):
            return []
        if not doc.has_annotation("SENT_START"):
            self._splitter(doc)
        starts, spaces = doc.to_array([SENT_START, IS_SPACE]).T
        words = numpy.flatnonzero(spaces == 0)
        if not len(words):
            return []
        # Sentence number of each word: how many sentence starts are at or before it.
        sentence_of = numpy.cumsum(starts.astype("int64") == 1)[words]
        last = numpy.flatnonzero(numpy.diff(sentence_of, append=-1))  # last word of each sentence
        first = numpy.concatenate(([0], last[:-1] + 1))
        return list(zip(words[first].tolist(), (words[last] + 1).tolist()))

    @staticmethod
    def _sentence_docs(doc: Doc, sentences: List[Tuple[int, int]]) -> List[Doc]:
        """Each sentence as its own Doc, what the classifier was trained on: the words, spaces
        and the token attributes a classifier can read (`SENTENCE_ATTRS`); not the parse or
        the entities. Built from one array of the note (`Span.as_doc()` costs ~4x more)."""
        if not sentences:
            return []
        array = doc.to_array([ORTH, SPACY, *SENTENCE_ATTRS])
        words = [doc.vocab.strings[orth] for orth in array[:, 0].tolist()]
        spaces = array[:, 1].astype(bool).tolist()
        return [Doc(doc.vocab, words=words[start:end], spaces=spaces[start:end])
                .from_array(SENTENCE_ATTRS, array[start:end, 2:]) for start, end in sentences]

    def predict(self, docs: Iterable[Doc]) -> Tuple[List[List[Tuple[int, int]]], object]:
        docs = list(docs)
        sentences = [self._sentences(doc) for doc in docs]
        flat = [sent for doc, sents in zip(docs, sentences) for sent in self._sentence_docs(doc, sents)]
        scores = super().predict(flat) if flat else self.model.ops.alloc2f(0, len(self.labels))
        return sentences, scores

    def set_annotations(self, docs: Iterable[Doc], predictions) -> None:
        sentences, scores = predictions
        thresholds = self.thresholds
        row = 0
        for doc, sents in zip(docs, sentences):
            doc_scores = scores[row : row + len(sents)]
            row += len(sents)
            group = SpanGroup(doc, name=self.spans_key)
            span_scores = []
            for sent, sent_scores in zip(sents, doc_scores):
                for label, score in zip(self.labels, sent_scores.tolist()):
                    if score >= thresholds[label]:
                        group.append(Span(doc, *sent, label=label))
                        span_scores.append(float(score))
            group.attrs["scores"] = span_scores
            doc.spans[self.spans_key] = group
            for j, label in enumerate(self.labels):
                doc.cats[label] = float(doc_scores[:, j].max()) if len(sents) else 0.0
