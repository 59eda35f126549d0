from ad_signs.llm.choice_decoding import enum_array_schema
from ad_signs.llm.generate_task import sentences_answer_schema
from ad_signs.llm.label_task import label_answer_schema


def test_only_label_set_schemas_use_choice_decoding():
    assert enum_array_schema(label_answer_schema(["A", "B"])) == ("labels", ["A", "B"])
    assert enum_array_schema(sentences_answer_schema(5)) is None
    assert enum_array_schema(None) is None
    assert enum_array_schema({"type": "object", "properties": {"a": {"type": "string"}, "b": {}}}) is None
