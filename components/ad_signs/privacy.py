"""Privacy check for LLM-made sentences (bronze is meant to hold no patient data; silver is cut
from notes): identifier-like strings, de-identification placeholders, and memorization.

- `scan_identifiers`: person names (after a title, in a "Name:" field, or a full name in
  markdown bold, as a small LLM writes an invented one), dates, phone numbers, record numbers,
  street addresses, e-mails, SSNs; and MIMIC placeholders (`[** ... **]`, MIMIC-IV `___`) as
  kind "placeholder": not an identifier, but a sign that text came from de-identified notes.
  Precision first: every pattern needs a shape clinical values do not have (a date has three
  parts or a month name: "3/14/2021", not "MoCA 18/30" or "BP 120/80"), so a finding is worth
  reading. Recall is not complete: a bare first name ("John said...") is not found.
- `NgramIndex`, `longest_shared_ngram`: the longest run of words a sentence shares with a
  reference corpus (the notes the LLM saw, the gold sentences): a long run is a copied span.
- `privacy_report`: both, summarised for one dataset.
"""
import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence, Set, Tuple, Union

from .text import words

PLACEHOLDER = "placeholder"
KINDS = ("name", "date", "phone", "record_number", "address", "email", "ssn", PLACEHOLDER)
IDENTIFIER_KINDS = KINDS[:-1]
# A sentence sharing this many words in a row with the reference counts as (likely) copied:
# 8 words is past what stock clinical phrasing shares by chance ("with a history of", "was
# noted to have"), and short enough to catch a copied clause.
MEMORIZED_WORDS = 8
_MASK = "\x00"  # stands in for placeholders: matches no pattern and is not a space

# A capitalised name word: Smith, McDonald, O'Brien, Smith-Jones (not MRI, not smith).
_W = r"(?:Mc|O['’])?[A-Z][a-z]+(?:-[A-Z][a-z]+)?"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MONTH_NUM = r"(?:0?[1-9]|1[0-2])"
_YEAR4 = r"(?:1[89]|2[0-2])\d{2}"  # 1800-2299: MIMIC shifts years into 2100-2200
_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
          r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
# Not after a word, digit, decimal point or separator: "7.12/28/72" (a blood gas) is no date.
_START = r"(?<![\w./-])"
_END = r"(?![\w/-])"

# Capitalised words that are not names, seen after titles, in bold and in headings; a name
# finding made only of these ("**Memory Care**", "Dr. On call") is dropped.
NOT_NAMES = frozenset("""
name names patient pt family guardian caregiver caregivers doctor nurse staff team member
memory care clinic center centre unit home health hospital service services social work worker
physical occupational speech therapy therapist mental status exam examination history plan
assessment diagnosis impression medication medications follow up chief complaint discharge
admission course daily living activities supervision assistance placement cognitive cognition
function functional decline impairment behavior behaviour mood sleep weight loss gait fall falls
alzheimer alzheimers disease dementia parkinson lewy body huntington mini state montreal red flag
note notes summary progress report date time signs symptoms safety risk warning important key
findings recommendations goals neurology psychiatry geriatrics geriatric internal medicine
emergency department intensive primary attending resident on call the and of for with his her
their this that no not mild moderate severe new old other
""".split())

_PATTERNS: Tuple[Tuple[str, "re.Pattern[str]"], ...] = tuple((kind, re.compile(pattern)) for kind, pattern in (
    # MIMIC-III "[**Name**]", "[**2151-7-16**]", "[**Hospital1 18**]"; MIMIC-IV "___".
    (PLACEHOLDER, r"\[\*\*[^\[\]\n]{0,80}?\*\*\]"),
    (PLACEHOLDER, r"_{3,}"),
    ("email", r"\b[\w.%+-]+@[A-Za-z\d-]+(?:\.[A-Za-z\d-]+)*\.[A-Za-z]{2,}\b"),
    ("ssn", r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])"),
    # (617) 555-1234, 617-555-1234, 617.555.1234, +1 617 555 1234; 3-3-4 digits, never 4-4.
    ("phone", r"(?<![\w./-])(?:\+?1[ .-]?)?(?:\(\d{3}\)[ ]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w/-])"),
    # Three numeric parts, day/month 1-31 and a 2- or 4-digit year: 3/14/2021, 14-03-21.
    ("date", rf"{_START}{_DAY}([/-]){_DAY}\1(?:\d{{4}}|\d{{2}}){_END}"),
    ("date", rf"{_START}{_YEAR4}([/-]){_MONTH_NUM}\1{_DAY}{_END}"),  # 2021-03-14
    ("date", rf"{_START}{_MONTH_NUM}/{_YEAR4}{_END}"),  # 3/2021 (month and year)
    # March 14, 2021 / Mar. 14th / March 14 (not "May 5 mg") / 14 March 2021 / March 2021.
    ("date", rf"\b{_MONTH}\.?[ \t]+{_DAY}(?:st|nd|rd|th)?\b(?:,?[ \t]+\d{{4}}\b)?"
             r"(?![ \t]*(?:mg|mcg|g|mL|ml|units?|tabs?|%|/))"),
    ("date", rf"\b{_DAY}(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?{_MONTH}\.?,?[ \t]+\d{{4}}\b"),
    ("date", rf"\b{_MONTH}\.?,?[ \t]+(?:of[ \t]+)?{_YEAR4}\b"),
    # A record-number keyword and digits (MRN 4452981, Medical record no. 12-3456, Acct #8812).
    ("record_number", r"\b(?i:MRN|medical[ \t]+record(?:[ \t]+(?:number|no\.?))?|acc(?:oun)?t\.?(?:[ \t]+(?:number|no\.?))?"
                      r"|unit[ \t]+no\.?|patient[ \t]+id)[ \t]*[:#]?[ \t]*\d[\d-]{2,}\d\b"),
    # A run of 6+ digits, not part of a decimal or a comma number ("250,000", "0.000001").
    ("record_number", r"(?<![\w.,])\d{6,}(?![\w]|[.,]\d)"),
    # 12 Oak Street, 4 Elm St, 1600 Pennsylvania Ave, 77 Mass Ave (number, 1-3 words, suffix).
    ("address", rf"\b\d{{1,5}}[ \t]+(?:{_W}[ \t]+){{1,3}}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln"
                r"|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Circle)\b"),
    # Mr. Smith, Mrs O'Brien, Dr. Anna Lee: a title and one or two capitalised words ("Ms", not MS).
    ("name", rf"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?[ \t]{{1,2}}(?P<id>{_W}(?:[ \t]+{_W})?)"),
    # Name: John Doe, Patient name: Doe, John, Name: John A. Doe.
    ("name", rf"\b(?:[Pp]atient[ \t]+)?[Nn]ame[ \t]*:[ \t]*(?P<id>{_W}(?:,?[ \t]+(?:[A-Z]\.[ \t]+)?{_W}){{1,2}})"),
    # **John Doe**: a full name (2-3 words) in markdown bold; "**Name**" and "**Memory Care**" are not.
    ("name", rf"\*\*[ \t]*(?P<id>{_W}(?:[ \t]+(?:[A-Z]\.[ \t]+)?{_W}){{1,2}})[ \t]*\*\*"),
))


@dataclass(frozen=True)
class Finding:
    kind: str
    text: str
    start: int
    end: int


def _name_end(span: str) -> int:
    """Where the name in `span` ends once trailing non-name words are dropped ("Smith Neurology"
    -> after "Smith"); 0 if it starts with a non-name word ("Memory Care", "Name")."""
    tokens = list(re.finditer(r"[^\s,]+", span))
    while tokens and tokens[-1].group().lower().strip(".'’") in NOT_NAMES:
        tokens.pop()
    return tokens[-1].end() if tokens and tokens[0].group().lower() not in NOT_NAMES else 0


def scan_identifiers(text: str) -> List[Finding]:
    """Identifier-like strings and placeholders in `text`, in order. Where patterns overlap,
    the first in `_PATTERNS` wins; text inside a placeholder is not scanned again."""
    masked = text
    found: List[Finding] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(masked):
            group = "id" if "id" in pattern.groupindex else 0
            start, end = match.span(group)
            if kind == "name":
                end = start + _name_end(match.group(group))
                if end == start:
                    continue
            if any(f.start < end and start < f.end for f in found):
                continue
            found.append(Finding(kind, text[start:end], start, end))
        if kind == PLACEHOLDER:
            for f in found:
                masked = masked[: f.start] + _MASK * (f.end - f.start) + masked[f.end :]
    return sorted(found, key=lambda f: f.start)


class NgramIndex:
    """Word n-grams of reference texts, for the longest run of words a text shares with them.

    Runs shorter than `seed` words are looked up in sets of n-grams; from `seed` words on, each
    occurrence of a shared seed-gram is extended word by word. Lengths are exact without a cap,
    and memory is about one entry per reference word (not one per word and length)."""

    def __init__(self, texts: Iterable[str] = (), seed: int = 4):
        self.seed = seed
        self.texts = 0
        self.ids: Dict[str, int] = {}
        self.tokens: List[int] = []  # every reference's word ids, each followed by -1
        self.short: List[Set[Tuple[int, ...]]] = [set() for _ in range(seed)]  # [n]: n-grams, n < seed
        self.starts: Dict[int, List[int]] = {}  # hash of a seed-gram -> where it starts in tokens
        for text in texts:
            self.add(text)

    def __len__(self) -> int:
        return self.texts

    def add(self, text: str) -> None:
        ids = [self.ids.setdefault(w, len(self.ids)) for w in words(text)]
        offset = len(self.tokens)
        for n in range(1, self.seed):
            self.short[n].update(tuple(ids[i : i + n]) for i in range(len(ids) - n + 1))
        for i in range(len(ids) - self.seed + 1):
            self.starts.setdefault(hash(tuple(ids[i : i + self.seed])), []).append(offset + i)
        self.tokens.extend(ids)
        self.tokens.append(-1)
        self.texts += 1

    def longest(self, tokens: Sequence[str]) -> Tuple[int, int]:
        """(length, start in `tokens`) of the longest run of `tokens` found in a reference."""
        ids = [self.ids.get(w, -2) for w in tokens]  # -2: a word no reference has
        best, where = 0, 0
        for n in range(1, min(self.seed, len(ids) + 1)):
            hit = next((i for i in range(len(ids) - n + 1) if tuple(ids[i : i + n]) in self.short[n]), None)
            if hit is None:
                return best, where  # no shared n-gram: no longer one either
            best, where = n, hit
        for i in range(len(ids) - self.seed + 1):
            for p in self.starts.get(hash(tuple(ids[i : i + self.seed])), ()):
                if i + best >= len(ids):
                    return best, where  # the rest of the text is too short to beat `best`
                # A run longer than `best` must match at offset `best` too: check that first.
                if p + best >= len(self.tokens) or self.tokens[p + best] != ids[i + best]:
                    continue
                n = 0
                while i + n < len(ids) and self.tokens[p + n] == ids[i + n]:
                    n += 1
                if n > best:
                    best, where = n, i
        return best, where


def longest_shared_ngram(text: str, index: NgramIndex) -> int:
    """Length in words of the longest word n-gram `text` shares with the index's references."""
    return index.longest(words(text))[0]


def _percentile(values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile: a value that occurs, 0 for no values."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)] if ordered else 0


def _snippet(text: str, start: int, end: int, width: int = 40) -> str:
    left, right = max(start - width, 0), min(end + width, len(text))
    return ("…" if left else "") + text[left:right] + ("…" if right < len(text) else "")


def placeholder_form(text: str) -> str:
    """A placeholder with its numbers blanked: "[**Hospital1 18**]" -> "[**Hospital1 #**]"."""
    return "___" if text.startswith("_") else re.sub(r"\b\d+\b", "#", text)


def privacy_report(
    texts: Sequence[str],
    reference: Union[NgramIndex, Iterable[str]],
    examples: int = 10,
    copied_examples: int = 5,
    threshold: int = MEMORIZED_WORDS,
) -> Dict:
    """Identifier findings, placeholders and memorization (against `reference`: an index or the
    reference texts) for the sentences of one dataset."""
    index = reference if isinstance(reference, NgramIndex) else NgramIndex(reference)
    kinds: Counter = Counter()
    forms: Counter = Counter()
    flagged = with_placeholders = 0
    found: List[Dict] = []
    lengths: List[int] = []
    copied: List[Tuple[int, str, str]] = []
    for text in texts:
        findings = scan_identifiers(text)
        identifiers = [f for f in findings if f.kind != PLACEHOLDER]
        placeholders = [f for f in findings if f.kind == PLACEHOLDER]
        flagged += bool(identifiers)
        with_placeholders += bool(placeholders)
        kinds.update(f.kind for f in identifiers)
        forms.update(placeholder_form(f.text) for f in placeholders)
        found.extend({"kind": f.kind, "text": f.text, "context": _snippet(text, f.start, f.end)}
                     for f in identifiers[: examples - len(found)])
        tokens = words(text)
        length, start = index.longest(tokens)
        lengths.append(length)
        if length >= threshold:
            copied.append((length, " ".join(tokens[start : start + length]), text))
    total = len(texts)
    copied.sort(key=lambda c: -c[0])
    return {
        "sentences": total,
        "identifiers": {
            "sentences": flagged,
            "share": flagged / total if total else 0.0,
            "kinds": {kind: kinds.get(kind, 0) for kind in IDENTIFIER_KINDS},
            "examples": found,
        },
        "placeholders": {
            "sentences": with_placeholders,
            "count": sum(forms.values()),
            "forms": dict(forms.most_common(10)),
        },
        "memorization": {
            "reference_texts": len(index),
            "max": max(lengths, default=0),
            "p99": _percentile(lengths, 99),
            "mean": statistics.mean(lengths) if lengths else 0.0,
            "threshold": threshold,
            "sentences": len(copied),
            "share": len(copied) / total if total else 0.0,
            "examples": [{"length": n, "shared": shared, "text": text} for n, shared, text in copied[:copied_examples]],
        },
    }
