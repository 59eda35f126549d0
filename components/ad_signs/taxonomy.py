"""The annotation guideline as one data file (the packaged `ad_signs/taxonomy.yml`, or a user's
.yml/.json), loaded and checked.

Every part of the project (LLM prompts, training labels, evaluation, the packaged pipeline)
reads its labels from a `Taxonomy`, so a user swaps guidelines by swapping the file.
"""
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, List, Tuple, Union

import srsly

DEFAULT_TAXONOMY = Path(__file__).parent / "taxonomy.yml"


class TaxonomyError(ValueError):
    """The taxonomy file is missing, malformed or incomplete."""


class UnknownLabelError(ValueError):
    """A label that the taxonomy does not define (in gold data, examples or options)."""


@dataclass(frozen=True)
class Category:
    label: str
    definition: str
    examples: Tuple[str, ...] = ()
    facets: Tuple[str, ...] = ()  # concrete sub-signs, for steering label-to-data prompts
    openers: Tuple[str, ...] = ()  # how a note's line about it starts, for label-to-data prompts
    rule: str = ""  # a labeling rule beyond the definition, for the labeling prompt ("" for none)
    answer_name: str = ""  # the short lower-case word a labeling LLM answers with ("" for the label itself)
    look_alikes: Tuple[str, ...] = ()  # lines of the same form that it does not cover, for look-alike hard negatives


@dataclass(frozen=True)
class NegativeRule:
    name: str
    rule: str
    example: str


@dataclass(frozen=True)
class Taxonomy:
    name: str
    version: str
    categories: Tuple[Category, ...]
    negative_rules: Tuple[NegativeRule, ...] = field(default=())
    path: str = ""

    @property
    def labels(self) -> List[str]:
        return [c.label for c in self.categories]

    @property
    def answer_names(self) -> Dict[str, str]:
        """{label: the word a labeling LLM answers with}: fewer tokens to decode than the label."""
        return {c.label: c.answer_name or c.label for c in self.categories}

    @property
    def definitions(self) -> Dict[str, str]:
        return {c.label: c.definition for c in self.categories}

    def __getitem__(self, label: str) -> Category:
        for category in self.categories:
            if category.label == label:
                return category
        raise KeyError(self.unknown_label_message([label]))

    def unknown_label_message(self, labels: Iterable[str]) -> str:
        return (
            f"Unknown label(s) {sorted(set(labels))} for taxonomy '{self.name}' v{self.version}. "
            f"Valid labels: {', '.join(self.labels)}."
        )

    def check_labels(self, labels: Iterable[str], where: str = "") -> List[str]:
        """Return `labels` as a list, or raise naming the unknown ones and where they were."""
        labels = list(labels)
        unknown = [label for label in labels if label not in self.definitions]
        if unknown:
            prefix = f"{where}: " if where else ""
            raise UnknownLabelError(prefix + self.unknown_label_message(unknown))
        return labels

    def cats(self, labels: Iterable[str]) -> Dict[str, float]:
        """Every label of the taxonomy as 1.0 (in `labels`) or 0.0, as textcat training needs."""
        chosen = set(self.check_labels(labels))
        return {label: float(label in chosen) for label in self.labels}


def _strings(spec: dict, key: str, where: str) -> Tuple[str, ...]:
    values = spec.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise TaxonomyError(f"{where}: '{key}' must be a list of non-empty strings.")
    return tuple(values)


def _require(mapping: dict, key: str, kind: type, where: str) -> object:
    if not isinstance(mapping, dict) or key not in mapping:
        raise TaxonomyError(f"{where}: missing required key '{key}'.")
    value = mapping[key]
    if not isinstance(value, kind) or (isinstance(value, (str, dict, list)) and not value):
        raise TaxonomyError(
            f"{where}: '{key}' must be a non-empty {kind.__name__}, got {value!r}."
        )
    return value


def parse_taxonomy(data: object, source: str = "<taxonomy>") -> Taxonomy:
    """Validate the raw YAML/JSON structure of a taxonomy and build a `Taxonomy`."""
    if not isinstance(data, dict):
        raise TaxonomyError(f"{source}: expected a mapping at the top level, got {type(data).__name__}.")
    name = str(_require(data, "name", str, source))
    version = str(data.get("version", "1"))
    # What the library supports, stated in the file: sentences, each with any number of labels.
    for key, supported in (("unit", "sentence"), ("multi_label", True)):
        if data.get(key, supported) != supported:
            raise TaxonomyError(f"{source}: '{key}: {data[key]}' is not supported; the library labels sentences "
                                f"multi-label ('{key}: {str(supported).lower()}' or leave it out).")
    raw_labels = _require(data, "labels", dict, source)
    categories = []
    for label, spec in raw_labels.items():
        where = f"{source}: label '{label}'"
        if not isinstance(label, str) or not label.replace("_", "").isalnum() or label.upper() != label:
            raise TaxonomyError(f"{where}: label names must be UPPER_SNAKE_CASE words.")
        definition = " ".join(str(_require(spec, "definition", str, where)).split())
        examples = spec.get("examples", [])
        if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
            raise TaxonomyError(f"{where}: 'examples' must be a list of strings.")
        facets, openers, look_alikes = (_strings(spec, key, where) for key in ("facets", "openers", "look_alikes"))
        rule = spec.get("rule", "")
        if not isinstance(rule, str):
            raise TaxonomyError(f"{where}: 'rule' must be a string.")
        answer_name = spec.get("answer_name", "")
        if not isinstance(answer_name, str) or (answer_name and not re.fullmatch(r"[a-z]+(_[a-z]+)*", answer_name)):
            raise TaxonomyError(f"{where}: 'answer_name' must be a lower-case word (letters and _), got {answer_name!r}.")
        categories.append(Category(label, definition, tuple(examples), facets, openers, " ".join(rule.split()), answer_name,
                                   look_alikes))
    names = [c.answer_name or c.label for c in categories]
    if len(set(names)) < len(names):
        raise TaxonomyError(f"{source}: two labels share an answer_name ({', '.join(sorted({n for n in names if names.count(n) > 1}))}).")
    rules = []
    for rule_name, spec in (data.get("negative_rules") or {}).items():
        where = f"{source}: negative rule '{rule_name}'"
        rule = " ".join(str(_require(spec, "rule", str, where)).split())
        rules.append(NegativeRule(rule_name, rule, str(spec.get("example", ""))))
    return Taxonomy(name, version, tuple(categories), tuple(rules), source)


@lru_cache(maxsize=8)
def load_taxonomy(path: Union[str, Path, None] = None) -> Taxonomy:
    """Load a taxonomy file (.yml/.yaml or .json); the packaged guideline by default."""
    path = Path(path) if path else DEFAULT_TAXONOMY
    if not path.exists():
        raise TaxonomyError(f"Taxonomy file not found: {path}. Pass the path of a .yml or .json file.")
    try:
        if path.suffix in (".yml", ".yaml"):
            data = srsly.read_yaml(path)
        elif path.suffix == ".json":
            data = srsly.read_json(path)
        else:
            raise TaxonomyError(f"{path}: unsupported taxonomy format '{path.suffix}'; use .yml or .json.")
    except TaxonomyError:
        raise
    except Exception as err:  # YAML/JSON syntax errors from the parsers
        raise TaxonomyError(f"{path}: cannot parse the file ({err}).") from err
    return parse_taxonomy(data, str(path))
