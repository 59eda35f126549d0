import spacy
from hypothesis import given
from hypothesis import strategies as st

from ad_signs.sentences import split_sentences

NOTE = """HPI: 78 yo F w/ h/o HTN, DM2 presents w/ worsening memory. Per daughter, pt. has been
getting lost while driving. She was seen by Dr. [**Name**] on [**2101-3-4**].
Medications:
1. Donepezil 10 mg PO qhs
2. Metoprolol 25 mg p.o. b.i.d.
Assessment and Plan: Probable AD. MoCA 18/30.
- Continue donepezil.
- Neuropsych testing.

BP 130/80. HR 72. Wt 60.5 kg."""


def sentences(text):
    return [text[s:e] for s, e in split_sentences(text)]


def test_clinical_note_headings_lists_wrapped_lines_and_abbreviations():
    assert sentences(NOTE) == [
        "HPI: 78 yo F w/ h/o HTN, DM2 presents w/ worsening memory.",
        "Per daughter, pt. has been\ngetting lost while driving.",
        "She was seen by Dr. [**Name**] on [**2101-3-4**].",
        "Medications:",
        "1. Donepezil 10 mg PO qhs",
        "2. Metoprolol 25 mg p.o. b.i.d.",
        "Assessment and Plan: Probable AD.",
        "MoCA 18/30.",
        "- Continue donepezil.",
        "- Neuropsych testing.",
        "BP 130/80.",
        "HR 72.",
        "Wt 60.5 kg.",
    ]


def test_component_sets_the_same_boundaries_and_respects_existing_ones():
    nlp = spacy.blank("en")
    nlp.add_pipe("clinical_sentencizer")
    doc = nlp(NOTE)
    assert [s.text.strip() for s in doc.sents] == sentences(NOTE)
    preset = nlp.make_doc("One two. Three four.")
    for token in preset:
        token.is_sent_start = token.i == 0
    assert len(list(nlp.get_pipe("clinical_sentencizer")(preset).sents)) == 1


@given(st.text(alphabet=st.sampled_from(list("abc ABC.!?:-1\n\t")), max_size=200))
def test_spans_are_ordered_trimmed_and_cover_all_text(text):
    spans = split_sentences(text)
    covered = set()
    for (start, end), nxt in zip(spans, spans[1:] + [(len(text), len(text))]):
        assert 0 <= start < end <= nxt[0]
        assert text[start:end] == text[start:end].strip()
        covered.update(range(start, end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
