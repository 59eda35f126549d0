"""Sentence splitting fit for clinical notes: headings, lists, wrapped lines, abbreviations.

`split_sentences(text)` returns character spans; the `clinical_sentencizer` component sets
`token.is_sent_start` from the same spans, so training data and the pipeline split alike.
Rules, in order:
- a blank line, a heading line ("HPI:", "ASSESSMENT AND PLAN") or a list item (1. / - / *)
  starts a new sentence; other line breaks join wrapped lines unless the line ended a sentence;
- ". ! ?" end a sentence before an upper-case letter, a digit or a bracket, except after
  abbreviations (pt., Dr., h/o., q.d., b.i.d., e.g., vs., ...), initials and decimal numbers.
"""
import re
from typing import List, Tuple

import numpy
from spacy.attrs import IDX, SENT_START
from spacy.language import Language
from spacy.tokens import Doc

ABBREVIATIONS = {
    "pt", "pts", "dr", "mr", "mrs", "ms", "st", "vs", "e.g", "i.e", "etc", "approx", "no", "fig",
    "q.d", "b.i.d", "t.i.d", "q.i.d", "q.h.s", "p.o", "p.r.n", "a.m", "p.m", "h/o", "s/p", "c/o",
    "w/o", "hx", "dx", "tx", "rx", "sx", "yo", "y.o", "mg", "mcg", "ml", "min", "hr", "hrs", "wk",
    "wks", "mo", "mos", "yr", "yrs", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "sr", "jr", "inc", "ave", "dept", "univ", "cont", "pos", "neg",
}
LIST_ITEM = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)]|\(?[a-z]\))\s+")
HEADING_LINE = re.compile(r"^\s*(?:[A-Z][A-Za-z /&()-]{1,40}:|[A-Z][A-Z /&()-]{2,40})\s*$")
HEADING_INLINE = re.compile(r"^\s*[A-Z][A-Za-z /&()-]{1,40}:\s")
SENT_END = re.compile(r"[.!?]+[\"')\]]*(?=\s+[\"'(\[]?[A-Z0-9\[])")
WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z./]*)$")
LIST_NUMBER = re.compile(r"(?:^|\n)[ \t]*\d{1,3}$")
LOOK_BACK = 40  # characters before a '.' that decide whether it ends a sentence (keeps splitting linear)


def _is_abbreviation(text: str, dot: int) -> bool:
    """True if the '.' at `dot` closes an abbreviation, an initial or a number."""
    start = max(0, dot - LOOK_BACK)
    number = LIST_NUMBER.search(text, start, dot)
    if number and (start == 0 or text[number.start()] == "\n"):  # "1." opening a list item
        return True
    match = WORD_BEFORE.search(text, start, dot)
    if match is None:
        return dot > 0 and text[dot - 1].isdigit() and dot + 1 < len(text) and text[dot + 1].isdigit()
    word = match.group(1).lower().rstrip(".")
    return word in ABBREVIATIONS or len(word) == 1


def _line_starts(text: str) -> List[int]:
    """Offsets where a line break starts a new sentence."""
    starts = []
    lines = text.split("\n")
    offset = 0
    previous = ""
    for line in lines:
        stripped = line.strip()
        if stripped and offset > 0:
            prev = previous.rstrip()
            new_block = (
                not prev
                or LIST_ITEM.match(line)
                or HEADING_LINE.match(line)
                or HEADING_INLINE.match(line)
                or HEADING_LINE.match(previous)
                or prev[-1] in ".!?:;"
                or stripped[0].isupper() and len(prev) < 45  # a short line: a field, not a wrapped line
            )
            if new_block:
                starts.append(offset + len(line) - len(line.lstrip()))
        previous = line
        offset += len(line) + 1
    return starts


def split_sentences(text: str) -> List[Tuple[int, int]]:
    """Character spans (start, end) of the sentences in `text`, whitespace trimmed."""
    boundaries = set(_line_starts(text))
    for match in SENT_END.finditer(text):
        dot = match.start()
        if text[dot] == "." and _is_abbreviation(text, dot):
            continue
        boundaries.add(match.end())
    spans = []
    cuts = sorted({0, len(text)} | boundaries)
    for start, end in zip(cuts, cuts[1:]):
        chunk = text[start:end]
        if chunk.strip():
            left = start + len(chunk) - len(chunk.lstrip())
            right = end - (len(chunk) - len(chunk.rstrip()))
            spans.append((left, right))
    return spans


@Language.factory("clinical_sentencizer", default_config={"overwrite": False})
def make_clinical_sentencizer(nlp: Language, name: str, overwrite: bool) -> "ClinicalSentencizer":
    return ClinicalSentencizer(name, overwrite)


class ClinicalSentencizer:
    """Sets sentence starts with `split_sentences`; keeps boundaries a host pipeline set,
    unless `overwrite` is true."""

    def __init__(self, name: str = "clinical_sentencizer", overwrite: bool = False):
        self.name = name
        self.overwrite = overwrite

    def __call__(self, doc: Doc) -> Doc:
        if not self.overwrite and doc.has_annotation("SENT_START"):
            return doc
        if not len(doc):
            return doc
        starts = numpy.array([start for start, _ in split_sentences(doc.text)], dtype="uint64")
        # Whole-doc arrays: setting token.is_sent_start one by one is quadratic.
        values = numpy.where(numpy.isin(doc.to_array(IDX), starts), 1, -1)
        values[0] = 1
        return doc.from_array([SENT_START], values.astype("uint64").reshape(-1, 1))  # -1 wraps, as in to_array
