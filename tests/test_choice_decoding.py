import json

import numpy as np
import pytest

from ad_signs.llm.choice_decoding import ChoiceDecoder, enum_array_schema
from ad_signs.llm.generate_task import sentences_answer_schema
from ad_signs.llm.label_task import label_answer_schema, parse_label_confidence


def test_only_label_set_schemas_use_choice_decoding():
    assert enum_array_schema(label_answer_schema(["A", "B"])) == ("labels", ["A", "B"])
    assert enum_array_schema(sentences_answer_schema(5)) is None
    assert enum_array_schema(None) is None
    assert enum_array_schema({"type": "object", "properties": {"a": {"type": "string"}, "b": {}}}) is None


class CharLlm:
    """Test double of `llama_cpp.Llama` for choice decoding: one token per character."""

    def tokenize(self, text: bytes, add_bos: bool = False, special: bool = False):
        return list(text)


def decode(decoder, logits):
    """Drive a walk on fixed logits (the same row at every branch)."""
    walk = decoder.walk(lambda _: logits)
    next(walk)
    while True:
        try:
            walk.send(0)
        except StopIteration as done:
            return json.loads(done.value)


@pytest.mark.parametrize("stop_bias,expected", [(0.0, ["A", "B"]), (1.0, ["A"])])
def test_choice_decoding_reads_each_labels_probability_at_its_branches(monkeypatch, stop_bias, expected):
    monkeypatch.setattr("ad_signs.llm.batched.chat_formatter", lambda llm: None)
    decoder = ChoiceDecoder(CharLlm(), "labels", ["A", "B"], stop_bias=stop_bias)
    logits = np.zeros(256)
    logits[ord('"')], logits[ord("A")] = np.log(3), np.log(3)  # a label (not "[]") 0.75; "A" 0.75 of those
    answer = decode(decoder, logits)
    assert answer["labels"] == expected
    # A: 0.75 * 0.75. B: left behind first at 0.75 * 0.25, then offered after A at 0.5 (',' vs ']').
    assert answer["confidence"] == {"A": 0.5625, "B": 0.5}
    assert parse_label_confidence(json.dumps(answer), ["A", "B"]) == (expected, answer["confidence"])


def test_a_prompt_may_start_the_answer_up_to_the_labels_key(monkeypatch):
    """label.v2 puts the sentence in the answer's start: its tokens follow the chat turns, with no
    `{"labels":` added; a start that does not end at the key cannot be decoded."""
    monkeypatch.setattr("ad_signs.llm.batched.chat_formatter", lambda llm: None)
    monkeypatch.setattr("ad_signs.llm.batched.chat_tokens", lambda llm, formatter, messages: [len(messages)])
    decoder = ChoiceDecoder(CharLlm(), "labels", ["A", "B"])
    user = [{"role": "user", "content": "Label it."}]
    assert decoder.prompt_tokens(user) == [1, *b'{"labels":']
    start = '{"sentence": "x", "labels":'
    assert decoder.prompt_tokens(user + [{"role": "assistant", "content": start}]) == [1, *start.encode()]
    with pytest.raises(ValueError, match='must end with \'"labels":\''):
        decoder.prompt_tokens(user + [{"role": "assistant", "content": '{"sentence": "x"'}])
