"""Quality filters for LLM-made sentences (bronze, silver), each counted and switchable.

- `length`: too short or too long to be one note sentence (a generated "sentence" of 60 words
  is several sentences, or text that ran on until the token limit);
- `language`: letters outside the Latin script (a small model drifting into another language);
- `identifiers`: a name, date, phone or record number, address, e-mail (`ad_signs.privacy`):
  bronze must hold no patient details, not even invented ones;
- `duplicates`: the same or nearly the same sentence as an earlier kept one, or as any gold
  sentence (near: Jaccard similarity of word trigrams);
- `definition`: a sentence that restates the guideline (most of its word trigrams come from a
  label definition or example) instead of reading like a note;
- `roundtrip`: the data-to-label direction, run on the sentence, disagrees with the label it was
  written for (positive: the label is missing; hard negative: the label is given). A sentence
  whose second-pass answer was rejected is dropped too.

Silver labels may also be thresholded on the labeling LLM's confidence (`confidence_thresholds`,
chosen on gold dev by `evaluate`): a label given with less confidence is taken off the sentence,
as absent (0) or, with `unconfident="unknown"`, out of `doc.cats`, which spaCy's textcat trains
as a missing value: no gradient either way, since an unsure "yes" is not a "no". Or, with
`soft=True`, every label of a silver sentence becomes the LLM's confidence in it, a probability
the classifier learns to match (distillation), instead of a 0/1 decision.

`agree_with_judge` is a second labeler for silver and bronze: a classifier trained on gold only
(the default architecture, thresholds chosen on gold dev; `python -m ad_signs judge`). A sentence
is kept only where the label set it decides equals the LLM's, as the round trip asks of bronze:
what two independent labelers agree on is less often wrong than what either says alone. With
`complete=True`, a generated positive's labels are what its prompt asked for, a lower bound: a
note line rarely shows one sign alone ("Wife reports he repeats himself" is NOTICE_BY_OTHERS and
COGNITIVE_IMPAIRMENT), so the judge may add the co-labels it decides, and the sentence is kept
with them where it gives every label the sentence was written for.
"""
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from spacy.tokens import Doc

from .metrics import label_set
from .privacy import PLACEHOLDER, scan_identifiers
from .taxonomy import Taxonomy
from .text import non_latin_share, shingles, words

FILTERS = ("length", "language", "identifiers", "duplicates", "definition", "roundtrip")


class NearDuplicateIndex:
    """Word-trigram shingles with an inverted index: candidates share a shingle, so checking a
    sentence costs about its number of shingles, not the size of the index."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.sets: List[Set[tuple]] = []
        self.by_shingle: Dict[tuple, List[int]] = {}

    def add(self, text: str) -> None:
        grams = shingles(text)
        for gram in grams:
            self.by_shingle.setdefault(gram, []).append(len(self.sets))
        self.sets.append(grams)

    def match(self, text: str) -> bool:
        grams = shingles(text)
        if not grams:
            return False
        seen: Set[int] = set()
        for gram in grams:
            for i in self.by_shingle.get(gram, ()):
                if i in seen:
                    continue
                seen.add(i)
                other = self.sets[i]
                if len(grams & other) / len(grams | other) >= self.threshold:
                    return True
        return False


@dataclass
class FilterSettings:
    enabled: Sequence[str] = FILTERS
    min_tokens: int = 3
    max_tokens: int = 40
    max_non_latin: float = 0.0
    near_duplicate: float = 0.8
    definition_overlap: float = 0.5


@dataclass
class FilterReport:
    seen: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    labels_removed: Counter = field(default_factory=Counter)  # labels below their confidence threshold
    unscored: int = 0  # kept sentences without a confidence to threshold (not from choice decoding)

    def as_dict(self) -> dict:
        return {"seen": self.seen, "kept": self.kept, "dropped": dict(self.dropped),
                "labels_removed": dict(self.labels_removed), "unscored": self.unscored}


UNCONFIDENT = ("absent", "unknown")  # what a label below its confidence threshold becomes


def remove_unconfident_labels(doc: Doc, thresholds: Dict[str, float], report: FilterReport,
                              unconfident: str = "absent") -> None:
    """Take off `doc` each label the LLM gave with a confidence below its threshold: set to 0
    ("absent") or removed from `doc.cats` ("unknown": a missing value in training)."""
    from .llm.label_task import CONFIDENCE_KEY

    confidence = doc.user_data.get(CONFIDENCE_KEY)
    if confidence is None:
        report.unscored += 1
        return
    for label, score in list(doc.cats.items()):
        if score >= 0.5 and confidence.get(label, 1.0) < thresholds.get(label, 0.0):
            if unconfident == "unknown":
                del doc.cats[label]
            else:
                doc.cats[label] = 0.0
            report.labels_removed[label] += 1


def soft_targets(doc: Doc, report: FilterReport) -> None:
    """Each label's value in `doc.cats` becomes the LLM's confidence in it (choice decoding's
    probability of choosing it), which spaCy's textcat loss takes as a soft target."""
    from .llm.label_task import CONFIDENCE_KEY

    confidence = doc.user_data.get(CONFIDENCE_KEY)
    if confidence is None:
        report.unscored += 1
        return
    doc.cats = {label: float(confidence.get(label, score)) for label, score in doc.cats.items()}


def agree_with_judge(docs: List[Doc], judge, confirm_at: Optional[str] = None, complete: bool = False,
                     component: str = "ad_signs") -> Tuple[List[Doc], Dict[str, Dict[str, int]]]:
    """The docs whose labels the judge (a pipeline with an `ad_signs` component) agrees with, and,
    per label, how many of the other docs had it from the LLM only ("llm_only") and from the judge
    only ("judge_only"). The judge decides at its own thresholds; with `confirm_at` (an operating
    point of the judge, e.g. "screening"), an LLM label is confirmed where the judge's score
    reaches that point's threshold, so that a label the judge finds likely, if not decided, is
    not counted against the LLM. Without it, the label sets must be equal. With `complete`, a
    generated positive (written for a label, `is_written_for_labels`) is kept where the judge
    gives all of its labels, as a copy labelled with every label the judge gives ("completed":
    how many gained a co-label); a co-label it adds is not a disagreement."""
    from .calibration import score_matrix

    pipe = judge.get_pipe(component)
    labels = list(pipe.labels)
    unknown = {label for doc in docs for label in doc.cats} - set(labels)
    if unknown:
        raise ValueError(f"The judge has no label {', '.join(sorted(unknown))}: train it on the same taxonomy.")
    points = pipe.cfg.get("operating_points") or {}
    if confirm_at is not None and confirm_at not in points:
        raise ValueError(f"The judge has no operating point {confirm_at!r}; it has {sorted(points) or 'none'} "
                         "(calibrate it on dev: `python -m ad_signs judge`).")
    scores = score_matrix(judge, docs, labels)
    decided = scores >= [pipe.thresholds[label] for label in labels]
    confirmed = scores >= [points[confirm_at].get(label, pipe.thresholds[label]) for label in labels] if confirm_at else decided
    kept, disagreements = [], {label: Counter(llm_only=0, judge_only=0, completed=0) for label in labels}
    for doc, on, sure in zip(docs, decided, confirmed):
        llm = label_set(doc)
        judged = {label for label, d in zip(labels, on) if d} | (llm & {label for label, c in zip(labels, sure) if c})
        if llm == judged:
            kept.append(doc)
        elif complete and llm and llm <= judged and is_written_for_labels(doc):
            kept.append(with_labels(doc, judged))
            for label in judged - llm:
                disagreements[label]["completed"] += 1
            continue
        for label in llm - judged:
            disagreements[label]["llm_only"] += 1
        for label in judged - llm:
            disagreements[label]["judge_only"] += 1
    return kept, {label: dict(counts) for label, counts in disagreements.items()}


def is_written_for_labels(doc: Doc) -> bool:
    """A generated positive: a sentence its prompt asked to show its labels (bronze's
    `user_data["source"]`), whose other labels nobody decided."""
    source = doc.user_data.get("source", {})
    return bool(source.get("label")) and source.get("polarity", "positive") == "positive"


def with_labels(doc: Doc, labels: Set[str]) -> Doc:
    """A copy of `doc` whose `cats` are 1.0 for `labels`, 0.0 for the others."""
    copy = doc.copy()
    copy.cats = {label: float(label in labels) for label in doc.cats}
    return copy


def cap_unlabelled(docs: List[Doc], share: float, seed: int = 0) -> Tuple[List[Doc], int]:
    """At most `share` of the returned docs without any label (e.g. gold train's share, so that
    silver cut from whole notes, mostly lines without a sign, does not shift the label priors):
    a seeded sample of the unlabelled docs, in their order. Returns (docs, how many were dropped)."""
    if not 0 <= share < 1:
        raise ValueError(f"The share of unlabelled sentences must be in [0, 1), not {share}.")
    unlabelled = [i for i, doc in enumerate(docs) if not label_set(doc)]
    room = int(share * (len(docs) - len(unlabelled)) / (1 - share))
    if len(unlabelled) <= room:
        return docs, 0
    dropped = set(random.Random(seed).sample(unlabelled, len(unlabelled) - room))
    return [doc for i, doc in enumerate(docs) if i not in dropped], len(dropped)


def _guideline_shingles(taxonomy: Taxonomy) -> Set[tuple]:
    texts = [c.definition for c in taxonomy.categories] + [e for c in taxonomy.categories for e in c.examples]
    return {gram for text in texts for gram in shingles(text)}


def is_positive(doc: Doc) -> bool:
    """A generated sentence written to show its label (not a hard negative: negated, hypothetical,
    family history, look-alike)."""
    return doc.user_data.get("source", {}).get("polarity", "positive") == "positive"


def roundtrip_agrees(doc: Doc, relabelled: Dict[str, Set[str]]) -> Optional[bool]:
    """Whether the second, data-to-label pass (`relabelled`: sentence -> labels) agrees with the
    labels a generated sentence was written for: a positive has them all (its label and any
    `also`), a hard negative has its label not, and a look-alike (about something unrelated)
    has no label at all. None: the second pass has no answer for this sentence, or the doc has
    no intended label."""
    source = doc.user_data.get("source", {})
    if doc.text not in relabelled or "label" not in source:
        return None
    if is_positive(doc):
        return {source["label"], *source.get("also", ())} <= relabelled[doc.text]
    if source.get("polarity") == "look_alike":
        return not relabelled[doc.text]
    return source["label"] not in relabelled[doc.text]


def filter_docs(
    docs: Iterable[Doc],
    taxonomy: Taxonomy,
    settings: FilterSettings = FilterSettings(),
    gold_texts: Iterable[str] = (),
    relabelled: Optional[Dict[str, Set[str]]] = None,
    confidence_thresholds: Optional[Dict[str, float]] = None,
    unconfident: str = "absent",
    soft: bool = False,
) -> Tuple[List[Doc], FilterReport]:
    """Keep the docs that pass every enabled filter; each dropped doc is counted under the first
    filter it fails (in the order of FILTERS). With `confidence_thresholds`, the kept docs lose
    the labels given below them (counted per label), as `unconfident` says (UNCONFIDENT); with
    `soft`, each of their labels becomes the LLM's confidence in it instead."""
    if soft and confidence_thresholds is not None:
        raise ValueError("Soft targets replace the confidence thresholds: give one or the other.")
    if unconfident not in UNCONFIDENT:
        raise ValueError(f"unconfident must be one of {', '.join(UNCONFIDENT)}, not {unconfident!r}.")
    unknown = set(settings.enabled) - set(FILTERS)
    if unknown:
        raise ValueError(f"Unknown filters {sorted(unknown)}; choose from {', '.join(FILTERS)}.")
    if "roundtrip" in settings.enabled and relabelled is None:
        raise ValueError("The roundtrip filter needs the relabelled sentences (or leave 'roundtrip' out).")
    enabled = set(settings.enabled)
    near = NearDuplicateIndex(settings.near_duplicate)
    for text in gold_texts:
        near.add(text)
    exact: Set[str] = {" ".join(words(t)) for t in gold_texts}
    guideline = _guideline_shingles(taxonomy)
    report, kept = FilterReport(), []
    for doc in docs:
        report.seen += 1
        tokens = words(doc.text)
        grams = shingles(doc.text)
        key = " ".join(tokens)
        checks = {
            "length": lambda: settings.min_tokens <= len(tokens) <= settings.max_tokens,
            "language": lambda: non_latin_share(doc.text) <= settings.max_non_latin,
            "identifiers": lambda: all(f.kind == PLACEHOLDER for f in scan_identifiers(doc.text)),
            "duplicates": lambda: key not in exact and not near.match(doc.text),
            "definition": lambda: not grams or len(grams & guideline) / len(grams) < settings.definition_overlap,
            "roundtrip": lambda: bool(roundtrip_agrees(doc, relabelled or {})),
        }
        failed = next((name for name in FILTERS if name in enabled and not checks[name]()), None)
        if failed:
            report.dropped[failed] += 1
            continue
        exact.add(key)
        near.add(doc.text)
        if confidence_thresholds is not None:
            remove_unconfident_labels(doc, confidence_thresholds, report, unconfident)
        elif soft:
            soft_targets(doc, report)
        kept.append(doc)
    report.kept = len(kept)
    return kept, report
