"""Data-to-label: an LLM labels sentences multi-label with the taxonomy (the *silver* set).

The prompt carries the definitions, the negative rules, the valid labels and few-shot examples
(hard negatives among them); the answer is JSON `{"labels": [...]}`, parsed strictly. An answer
that does not parse is not "no label": the doc gets no `cats` and a reject record in
`doc.user_data["llm_reject"]`, which the runner counts and writes to a rejects file.
"""
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from spacy.scorer import Scorer
from spacy.tokens import Doc
from spacy.training import Example
from spacy_llm.registry import registry

from ..taxonomy import Taxonomy, load_taxonomy
from .models.base import ANSWER_START
from .parsing import AnswerError, load_json_object, parse_responses, prompt_template, read_template

FEWSHOT = Path(__file__).parent.parent / "fewshot" / "label_examples.jsonl"  # authored, see its data card
CONFIDENCE_KEY = "llm_confidence"  # doc.user_data: each label's probability under choice decoding


def parse_label_answer(answer: str, labels: Sequence[str]) -> List[str]:
    """The label set in `answer`, or AnswerError. Duplicates collapse; unknown labels reject."""
    return parse_label_confidence(answer, labels)[0]


def parse_label_confidence(answer: str, labels: Sequence[str]) -> Tuple[List[str], Optional[Dict[str, float]]]:
    """The label set in `answer` and, when the decoder read it from the logits (choice
    decoding), each label's confidence `{"confidence": {label: p}}`; else None."""
    data = load_json_object(answer, "labels", optional=("confidence",))
    values = data["labels"]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise AnswerError('"labels" must be a list of label names')
    unknown = sorted(set(values) - set(labels))
    if unknown:
        raise AnswerError(f"unknown label(s) {unknown}")
    confidence = data.get("confidence")
    if confidence is not None and (
        not isinstance(confidence, dict)
        or set(confidence) != set(labels)
        or not all(isinstance(p, (int, float)) and 0 <= p <= 1 for p in confidence.values())
    ):
        raise AnswerError('"confidence" must give every label a probability in [0, 1]')
    return sorted(set(values), key=list(labels).index), confidence


def label_answer_schema(labels: Sequence[str]) -> Dict[str, Any]:
    """JSON schema that constrains decoding to a valid answer."""
    return {
        "type": "object",
        "properties": {
            "labels": {"type": "array", "items": {"type": "string", "enum": list(labels)}, "uniqueItems": True}
        },
        "required": ["labels"],
        "additionalProperties": False,
    }


class LabelTask:
    """spacy-llm task: one prompt per sentence Doc; sets `doc.cats` (every label, 0/1).
    With `answer_names`, the prompt names each category by the taxonomy's short answer name (the
    model answers with it, in fewer tokens) and the answer is read back into the labels."""

    def __init__(self, taxonomy: Taxonomy, template: str, examples: Sequence[Dict[str, Any]], answer_names: bool = False):
        self.taxonomy = taxonomy
        self.names = taxonomy.answer_names if answer_names else {label: label for label in taxonomy.labels}
        self._label_of = {name: label for label, name in self.names.items()}
        self.examples = [
            {"text": eg["text"], "labels": names, "answer": json.dumps({"labels": names})}
            for eg in examples
            for names in [[self.names[label] for label in taxonomy.check_labels(eg["labels"], "few-shot example")]]
        ]
        self._template = prompt_template(template)

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self.taxonomy.labels)

    def guideline(self) -> Dict[str, Any]:
        """What a labeling template renders besides the sentence(s): the taxonomy (each category by
        the name the answer uses) and the examples."""
        renamed = {label: name for label, name in self.names.items() if name != label}
        mentions = re.compile(r"\b(" + "|".join(sorted(renamed, key=len, reverse=True)) + r")\b") if renamed else None

        def named(text: str) -> str:
            return mentions.sub(lambda m: renamed[m.group(1)], text) if mentions else text

        return {
            "definitions": {self.names[label]: definition for label, definition in self.taxonomy.definitions.items()},
            "categories": [replace(c, label=self.names[c.label], rule=named(c.rule)) for c in self.taxonomy.categories],
            "negative_rules": self.taxonomy.negative_rules,
            "examples": self.examples,
        }

    def read_answer(self, answer: str) -> Tuple[List[str], Optional[Dict[str, float]]]:
        """The labels in `answer` (and their confidence, if decoded by choice), or AnswerError."""
        names, confidence = parse_label_confidence(answer, list(self.names.values()))
        labels = [self._label_of[name] for name in names]
        return labels, None if confidence is None else {self._label_of[name]: p for name, p in confidence.items()}

    def render(self, text: str) -> str:
        """The prompt for `text`; a template may start the model's answer after `answer_start`."""
        return self._template.render(text=text, answer_start=ANSWER_START, **self.guideline())

    def generate_prompts(self, docs: Iterable[Doc]) -> Iterable[str]:
        for doc in docs:
            yield self.render(doc.text)

    def parse_responses(self, docs: Iterable[Doc], responses: Iterable[str]) -> Iterable[Doc]:
        return parse_responses(docs, responses, self._apply, _clear_cats)

    def _apply(self, doc: Doc, answer: str) -> None:
        chosen, confidence = self.read_answer(answer)
        doc.cats = self.taxonomy.cats(chosen)
        if confidence is not None:
            doc.user_data[CONFIDENCE_KEY] = confidence

    def scorer(self, examples: Iterable[Example]) -> Dict[str, Any]:
        return Scorer.score_cats(
            examples, "cats", labels=self.labels, multi_label=True, threshold=0.5
        )


def _clear_cats(doc: Doc) -> None:
    doc.cats = {}


@registry.llm_misc("ad_signs.FewShotExamples.v1")
def make_fewshot_examples(path: Optional[str] = None) -> Callable[[], List[Dict[str, Any]]]:
    """Few-shot examples {"text", "labels"} from a .jsonl/.json/.yml file (spaCy-llm's
    FewShotReader); the ones shipped with the library (`ad_signs/fewshot/`) by default."""
    from spacy_llm.registry.reader import fewshot_reader

    chosen = Path(path) if path else FEWSHOT
    if not chosen.is_file():
        raise FileNotFoundError(f"Few-shot examples not found: {chosen}. Set paths.examples to a .jsonl file, or null for the packaged ones.")
    return fewshot_reader(chosen)


@registry.llm_tasks("ad_signs.LabelSentences.v1")
def make_label_task(
    taxonomy: Optional[str] = None,
    examples: Optional[Union[Callable[[], Iterable[Dict[str, Any]]], List[Dict[str, Any]]]] = None,
    template: Optional[str] = None,
) -> LabelTask:
    """Multi-label sentence labeling with the taxonomy.

    taxonomy: path of the taxonomy file (.yml/.json); the packaged guideline by default.
    examples: few-shot examples {"text", "labels"}, e.g. from spacy.FewShotReader.v1; None: zero-shot.
    template: a Jinja template (inline or a .jinja path); the packaged label.v1.jinja by default.
    """
    return _label_task(taxonomy, examples, template, "label.v1.jinja")


@registry.llm_tasks("ad_signs.LabelSentences.v2")
def make_label_task_v2(
    taxonomy: Optional[str] = None,
    examples: Optional[Union[Callable[[], Iterable[Dict[str, Any]]], List[Dict[str, Any]]]] = None,
    template: Optional[str] = None,
) -> LabelTask:
    """As v1, with label.v2.jinja by default: the sentence is the start of the model's answer,
    `{"sentence": ..., "labels": [...]}` (faster and, on gold dev, more accurate)."""
    return _label_task(taxonomy, examples, template, "label.v2.jinja")


@registry.llm_tasks("ad_signs.LabelSentences.v3")
def make_label_task_v3(
    taxonomy: Optional[str] = None,
    examples: Optional[Union[Callable[[], Iterable[Dict[str, Any]]], List[Dict[str, Any]]]] = None,
    template: Optional[str] = None,
) -> LabelTask:
    """As v2, with each category named by the taxonomy's `answer_name` in the prompt and the answer
    ("cognition", not "COGNITIVE_IMPAIRMENT": 1-2 tokens, not 3-13), read back into the labels.
    Use it with `ad_signs.LabelAnswerSchema.v2`, whose answers use the same names."""
    return _label_task(taxonomy, examples, template, "label.v2.jinja", answer_names=True)


def _label_task(taxonomy, examples, template, default_template: str, answer_names: bool = False) -> LabelTask:
    raw_examples = examples() if callable(examples) else examples
    return LabelTask(load_taxonomy(taxonomy), read_template(template, default_template), list(raw_examples or []), answer_names)


@registry.llm_misc("ad_signs.LabelAnswerSchema.v1")
def make_label_answer_schema(taxonomy: Optional[str] = None) -> Dict[str, Any]:
    """The JSON schema of a label answer, for a model's `response_format`."""
    return label_answer_schema(load_taxonomy(taxonomy).labels)


@registry.llm_misc("ad_signs.LabelAnswerSchema.v2")
def make_label_answer_schema_v2(taxonomy: Optional[str] = None) -> Dict[str, Any]:
    """The JSON schema of an answer of `ad_signs.LabelSentences.v3`: the taxonomy's answer names."""
    return label_answer_schema(list(load_taxonomy(taxonomy).answer_names.values()))
