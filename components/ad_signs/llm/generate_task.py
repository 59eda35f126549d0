"""Label-to-data: an LLM writes new sentences from a label's definition alone (the *bronze* set).

Each request Doc stands for one prompt: which label, positive or a hard negative (negated,
hypothetical, family history), and the varied context (note type, author, style, severity,
setting, patient) drawn by `plan_requests` from a seeded generator. The answer is JSON
`{"sentences": [...]}`, parsed strictly; the sentences go to `doc.user_data["generated"]`.
"""
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import jinja2.sandbox
from spacy.tokens import Doc
from spacy_llm.registry import registry

from ..taxonomy import Category, Taxonomy, load_taxonomy
from .parsing import AnswerError, load_json_object, parse_responses, read_template

REQUEST_KEY = "generation_request"
GENERATED_KEY = "generated"

POLARITY_INSTRUCTIONS = {
    "negated": "a negated mention, stating the patient does not have it (e.g. 'denies ...', 'no ...').",
    "hypothetical": "a hypothetical, conditional or future mention (e.g. 'return if ...', 'monitor for ...').",
    "family_history": "a family member's history or condition, not the patient's.",
    "look_alike": "it is about the unrelated thing asked for, and says nothing about the patient's cognition or dementia.",
}
HARD_NEGATIVES = ("negated", "hypothetical", "family_history")  # the default kinds
# A look-alike is a line of the same form about something the label does not cover (a statin
# written like a donepezil line): the guideline's "unrelated" negatives, per label (taxonomy `look_alikes`).
LOOK_ALIKE = "look_alike"
NEGATIVE_KINDS = (*HARD_NEGATIVES, LOOK_ALIKE)

# Context varied across prompts, so that generated sentences are not formulaic.
NOTE_TYPES = (
    "a discharge summary", "a neurology clinic note", "a nursing progress note",
    "a primary care visit note", "a social work assessment", "an emergency department note",
    "a geriatrics consult", "a psychiatry consult", "a home health visit note", "a memory clinic note",
)
AUTHORS = ("a physician", "a nurse", "a nurse practitioner", "a social worker", "a resident", "a therapist")
STYLES = (
    "telegraphic fragments with common clinical abbreviations",
    "complete formal sentences",
    "short list-item lines without bullets",
    "terse assessment-and-plan lines",
    "mixed: some fragments, some full sentences",
)
# How lines of a note start, by polarity: each prompt asks for its lines to open with a seeded
# sample of these, so that sentences do not all begin "The patient ..." (the 1.5B model's habit).
# Positive lines open as their label's do (taxonomy `openers`): a shared pool put "Wife reports"
# before AD_TREATMENT lines, which then said something else (30 % round-trip agreement, bronze v1).
OPENERS = {
    "positive": (
        "Pt", "Patient", "She", "He", "Wife reports", "Husband reports", "Daughter states", "Son notes",
        "Per caregiver", "Family", "On exam", "Exam:", "Since last visit", "Over the past year", "Recently",
        "Today", "Now", "Still", "Increasingly", "Hx of", "Reports", "Noted", "Has", "Needs", "Unable to",
        "Assessment:", "Impression:", "Plan:", "A/P:", "HPI:", "Neuro:", "Social:", "Continues", "New",
        "Worsening", "Staff report", "Caregiver", "Spouse", "Friend", "Per chart",
    ),
    "negated": (
        "Denies", "No", "Negative for", "Without", "Not", "Pt denies", "Family denies", "No evidence of",
        "No h/o", "Wife denies", "Neuro:", "ROS:", "Exam:", "Never", "Absent", "None", "Patient denies",
    ),
    "hypothetical": (
        "If", "Return if", "Monitor for", "Watch for", "Consider", "Discussed", "Counseled on", "Risk of",
        "Should", "In case of", "Call if", "To rule out", "Will", "May", "Plan:", "Family advised", "Possible",
    ),
    "family_history": (
        "Mother", "Father", "Sister", "Brother", "Maternal", "Paternal", "FHx:", "Family history of",
        "Aunt", "Grandmother", "Uncle", "Her mother", "His father", "Older sister", "Twin brother", "FH:",
    ),
}
SEVERITIES = ("subtle", "mild", "moderate", "severe")
SETTINGS = ("outpatient clinic", "inpatient ward", "emergency department", "skilled nursing facility", "home visit", "telehealth visit")


@dataclass(frozen=True)
class GenerationRequest:
    label: str
    polarity: str  # "positive" or one of HARD_NEGATIVES
    note_type: str
    author: str
    style: str
    severity: str
    setting: str
    patient: str
    facet: str = ""  # the sub-sign of the label to write about (taxonomy `facets`), "" for any
    openers: Tuple[str, ...] = ()  # how the prompt's lines start, one per line ((): free)
    also: Tuple[str, ...] = ()  # further labels every line shows too (a positive written for a label combination)

    def describe(self) -> str:
        about = f" ({self.facet})" if self.facet else ""
        return f"{'+'.join((self.label, *self.also))}{about} {self.polarity}: {self.note_type}, {self.style}, {self.severity}"

    @property
    def labels(self) -> Tuple[str, ...]:
        """The labels every line of a positive shows."""
        return (self.label, *self.also)


def combination(key: str) -> Tuple[str, Tuple[str, ...]]:
    """A generation count's key as (label, further labels): "NOTICE_BY_OTHERS+COGNITIVE_IMPAIRMENT"
    writes lines that show both, framed by the first (its facets and openers)."""
    first, *also = (part.strip() for part in key.split("+"))
    return first, tuple(also)


def plan_requests(
    taxonomy: Taxonomy,
    per_label: Union[int, Mapping[str, int]],
    negatives_per_label: int,
    per_prompt: int,
    seed: int,
    negative_kinds: Sequence[str] = HARD_NEGATIVES,
) -> List[GenerationRequest]:
    """Enough prompts for `per_label` positive sentences of each label (an int: every label of
    the taxonomy; a mapping: those labels, or label combinations "A+B", `combination`) and
    `negatives_per_label` hard negatives of each single label, spread over `negative_kinds`
    (default negated/hypothetical/family history; `look_alike` too, from the taxonomy's `look_alikes`).
    Each label's prompts cycle through its facets (its concrete sub-signs; a look-alike's: the
    label's look-alikes) from a seeded start, so that none is left out."""
    rng = random.Random(seed)
    counts = per_label if isinstance(per_label, Mapping) else {label: per_label for label in taxonomy.labels}
    taxonomy.check_labels([label for key in counts for label in (combination(key)[0], *combination(key)[1])], "generation counts")
    check_negative_kinds(taxonomy, counts, negative_kinds, negatives_per_label)
    requests = []
    for k, key in enumerate(counts):
        label, also = combination(key)
        polarities = ["positive"] * math.ceil(counts[key] / per_prompt)
        # Hard-negative kinds rotate across labels too, so that all kinds occur with few prompts.
        n_negative = 0 if also else math.ceil(negatives_per_label / per_prompt)
        polarities += [negative_kinds[(k + i) % len(negative_kinds)] for i in range(n_negative)]
        facets = taxonomy[label].facets or ("",)
        start = rng.randrange(len(facets))
        for j, polarity in enumerate(polarities):
            about = taxonomy[label].look_alikes if polarity == LOOK_ALIKE else facets
            requests.append(
                GenerationRequest(
                    label=label,
                    polarity=polarity,
                    note_type=rng.choice(NOTE_TYPES),
                    author=rng.choice(AUTHORS),
                    style=rng.choice(STYLES),
                    severity=rng.choice(SEVERITIES),
                    setting=rng.choice(SETTINGS),
                    patient=f"a {rng.randint(58, 96)}-year-old {rng.choice(('man', 'woman'))}",
                    facet=about[(start + j) % len(about)],
                    openers=_draw_openers(rng, taxonomy[label], polarity, per_prompt),
                    also=also,
                )
            )
    return requests


def check_negative_kinds(taxonomy: Taxonomy, keys: Iterable[str], kinds: Sequence[str], negatives_per_label: int) -> None:
    """Raise ValueError, saying what to fix, for hard negatives without a kind, an unknown kind, or
    a look-alike that a label of `keys` has no `look_alikes` for."""
    if not negatives_per_label:
        return
    unknown = sorted(set(kinds) - set(NEGATIVE_KINDS))
    if unknown or not kinds:
        raise ValueError(f"Hard-negative kinds {unknown or '(none given)'}: choose from {', '.join(NEGATIVE_KINDS)}.")
    missing = [key for key in keys if LOOK_ALIKE in kinds and "+" not in key and not taxonomy[key].look_alikes]
    if missing:
        raise ValueError(f"No look_alikes in the taxonomy for {', '.join(missing)}: add them there to write look-alike negatives.")


def _draw_openers(rng: random.Random, category: Category, polarity: str, n: int) -> Tuple[str, ...]:
    """Up to `n` distinct line openers: a positive line opens as the label's own lines do in a
    note (taxonomy `openers`; the shared pool if it has none), a hard negative by its kind; a
    look-alike freely (the label's openers, "MoCA", "Continue", would make it a positive)."""
    if polarity == LOOK_ALIKE:
        return ()
    pool = category.openers if polarity == "positive" and category.openers else OPENERS[polarity]
    return tuple(rng.sample(pool, min(n, len(pool))))


def request_doc(make_doc, request: GenerationRequest) -> Doc:
    """A Doc that stands for one generation prompt (its text is a readable summary)."""
    doc = make_doc(request.describe())
    doc.user_data[REQUEST_KEY] = asdict(request)
    return doc


def parse_sentences_answer(answer: str) -> List[str]:
    values = load_json_object(answer, "sentences")["sentences"]
    if not isinstance(values, list) or not values:
        raise AnswerError('"sentences" must be a non-empty list')
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise AnswerError('every item of "sentences" must be a non-empty string')
    return [" ".join(v.split()) for v in values]


def sentences_answer_schema(n: int) -> Dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "sentences": {
                "type": "array",
                "items": {"type": "string", "minLength": 8, "maxLength": 300},
                "minItems": n,
                "maxItems": n,
            }
        },
        "required": ["sentences"],
        "additionalProperties": False,
    }


class GenerateTask:
    """spacy-llm task: one prompt per request Doc; sets `doc.user_data["generated"]`."""

    def __init__(self, taxonomy: Taxonomy, template: str, per_prompt: int, template_name: str = "inline"):
        self.taxonomy = taxonomy
        self.per_prompt = per_prompt
        self.template_name = template_name  # for data cards
        self._template = jinja2.sandbox.SandboxedEnvironment().from_string(template)

    def render(self, request: Dict[str, Any]) -> str:
        if request.get("label") not in self.taxonomy.definitions:
            raise ValueError(self.taxonomy.unknown_label_message([request.get("label")]))
        return self._template.render(
            n=self.per_prompt,
            request=request,
            label=request["label"],
            definition=self.taxonomy.definitions[request["label"]],
            polarity_instruction=POLARITY_INSTRUCTIONS.get(request["polarity"], ""),
            also=[{"label": label, "definition": self.taxonomy.definitions[label]} for label in request.get("also", ())],
        )

    def generate_prompts(self, docs: Iterable[Doc]) -> Iterable[str]:
        for doc in docs:
            if REQUEST_KEY not in doc.user_data:
                raise ValueError("GenerateSentences needs request Docs made by ad_signs.llm.generate_task.request_doc().")
            yield self.render({"facet": "", "openers": (), **doc.user_data[REQUEST_KEY]})

    def parse_responses(self, docs: Iterable[Doc], responses: Iterable[str]) -> Iterable[Doc]:
        return parse_responses(docs, responses, _set_generated, _clear_generated)


def _set_generated(doc: Doc, answer: str) -> None:
    doc.user_data[GENERATED_KEY] = parse_sentences_answer(answer)


def _clear_generated(doc: Doc) -> None:
    doc.user_data[GENERATED_KEY] = []


@registry.llm_tasks("ad_signs.GenerateSentences.v1")
def make_generate_task(
    taxonomy: Optional[str] = None,
    per_prompt: int = 5,
    template: Optional[str] = None,
) -> GenerateTask:
    """Write `per_prompt` sentences per request for a label (or a hard negative of it).

    taxonomy: path of the taxonomy file; the packaged guideline by default.
    template: a Jinja template (inline or a .jinja path); the packaged generate.v2.jinja by default.
    """
    default = "generate.v2.jinja"
    name = default if template is None else Path(template).name if template.endswith(".jinja") else "inline"
    return GenerateTask(load_taxonomy(taxonomy), read_template(template, default), per_prompt, name)


@registry.llm_misc("ad_signs.SentencesAnswerSchema.v1")
def make_sentences_answer_schema(n: int = 5) -> Dict[str, Any]:
    """The JSON schema of a generation answer with exactly `n` sentences."""
    return sentences_answer_schema(n)

