"""The strict response parsers: malformed answers raise AnswerError, never read as "no label"."""
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ad_signs.llm.generate_task import parse_sentences_answer
from ad_signs.llm.label_task import parse_label_answer
from ad_signs.llm.parsing import AnswerError, FailedAnswer
from ad_signs.taxonomy import load_taxonomy

LABELS = load_taxonomy().labels


@pytest.mark.parametrize(
    "answer,expected",
    [
        ('{"labels": []}', []),
        ('{"labels": ["DIAGNOSIS"]}', ["DIAGNOSIS"]),
        ('{"labels": ["AD_TREATMENT", "DIAGNOSIS", "DIAGNOSIS"]}', ["DIAGNOSIS", "AD_TREATMENT"]),
        ('```json\n{"labels": ["DIAGNOSIS"]}\n```', ["DIAGNOSIS"]),
    ],
)
def test_valid_label_answers(answer, expected):
    assert parse_label_answer(answer, LABELS) == expected


@pytest.mark.parametrize(
    "answer,reason",
    [
        ("", "not valid JSON"),
        ("DIAGNOSIS", "not valid JSON"),
        ("The sentence describes memory loss.", "not valid JSON"),
        ('{"labels": ["DIAGNOSIS"]', "not valid JSON"),
        ('["DIAGNOSIS"]', "single key"),
        ('{"label": "DIAGNOSIS"}', "single key"),
        ('{"labels": ["DIAGNOSIS"], "why": "x"}', "single key"),
        ('{"labels": "DIAGNOSIS"}', "must be a list"),
        ('{"labels": [1]}', "must be a list"),
        ('{"labels": ["MEMORY_LOSS"]}', "unknown label"),
        ('{"labels": ["diagnosis"]}', "unknown label"),
        ('{"labels": [], "confidence": {"DIAGNOSIS": 0.2}}', "every label a probability"),
        ('{"labels": [], "confidence": 0.9}', "every label a probability"),
        (json.dumps({"labels": [], "confidence": dict.fromkeys(LABELS, 1.5)}), "every label a probability"),
        (FailedAnswer("ConnectionError: refused"), "request failed"),
    ],
)
def test_malformed_label_answers_are_errors(answer, reason):
    with pytest.raises(AnswerError, match=reason):
        parse_label_answer(answer, LABELS)


@given(st.text())
def test_label_parser_returns_known_labels_or_raises(answer):
    try:
        labels = parse_label_answer(answer, LABELS)
    except AnswerError:
        return
    assert set(labels) <= set(LABELS) and len(labels) == len(set(labels))


@given(st.lists(st.sampled_from(LABELS)))
def test_label_parser_roundtrips_any_label_list(labels):
    assert set(parse_label_answer(json.dumps({"labels": labels}), LABELS)) == set(labels)


def test_sentence_answers():
    assert parse_sentences_answer('{"sentences": ["Pt  confused.", "Wife reports memory loss."]}') == [
        "Pt confused.",
        "Wife reports memory loss.",
    ]
    for bad in ['{"sentences": []}', '{"sentences": ["ok", ""]}', '{"sentences": "x"}', "Sure! 1. Pt confused", '{"s": []}']:
        with pytest.raises(AnswerError):
            parse_sentences_answer(bad)


@given(st.text())
def test_sentence_parser_returns_nonempty_strings_or_raises(answer):
    try:
        sentences = parse_sentences_answer(answer)
    except AnswerError:
        return
    assert sentences and all(isinstance(s, str) and s.strip() for s in sentences)
