import pytest

from ad_signs.taxonomy import TaxonomyError, load_taxonomy

GUIDELINE_LABELS = [
    "COGNITIVE_IMPAIRMENT", "NOTICE_BY_OTHERS", "REQUIRES_ASSISTANCE", "PHYSIOLOGICAL_CHANGES",
    "NEUROPSYCHIATRIC_SYMPTOMS", "COGNITIVE_ASSESSMENT", "DIAGNOSTIC_TESTS", "DIAGNOSIS", "AD_TREATMENT",
]


def test_default_taxonomy_has_the_guidelines_nine_labels():
    taxonomy = load_taxonomy()
    assert taxonomy.labels == GUIDELINE_LABELS
    assert all(len(d) > 40 for d in taxonomy.definitions.values())
    assert {r.name for r in taxonomy.negative_rules} >= {"negated", "hypothetical", "family_history"}


def test_cats_carry_every_label():
    cats = load_taxonomy().cats(["DIAGNOSIS"])
    assert cats["DIAGNOSIS"] == 1.0 and sum(cats.values()) == 1.0 and len(cats) == len(load_taxonomy().labels)


def test_unknown_label_names_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown label.*MEMORY_LOSS.*Valid labels: COGNITIVE_IMPAIRMENT"):
        load_taxonomy().cats(["MEMORY_LOSS"])


@pytest.mark.parametrize(
    "text,message",
    [
        ("name: x\n", "missing required key 'labels'"),
        ("name: x\nlabels:\n  FOO: {}\n", "label 'FOO'.*missing required key 'definition'"),
        ("name: x\nlabels:\n  foo bar:\n    definition: d\n", "UPPER_SNAKE_CASE"),
        ("name: x\nlabels: [a, b]\n", "'labels' must be a non-empty dict"),
        ("name: x\nlabels:\n  FOO:\n    definition: d\n    examples: 3\n", "'examples' must be a list"),
        ("name: x\nlabels:\n  FOO:\n    definition: d\n    openers: [Pt, '']\n", "'openers' must be a list of non-empty"),
        ("name: [unclosed\n", "cannot parse"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_malformed_taxonomy_errors_name_the_problem(tmp_path, text, message):
    path = tmp_path / "tax.yml"
    path.write_text(text)
    with pytest.raises(TaxonomyError, match=message):
        load_taxonomy(path)


def test_missing_and_wrong_format_files(tmp_path):
    with pytest.raises(TaxonomyError, match="not found"):
        load_taxonomy(tmp_path / "nope.yml")
    (tmp_path / "tax.txt").write_text("x")
    with pytest.raises(TaxonomyError, match="unsupported taxonomy format"):
        load_taxonomy(tmp_path / "tax.txt")


@pytest.mark.parametrize("key, value", [("unit", "note"), ("multi_label", False)])
def test_unit_and_multi_label_are_checked_not_ignored(key, value):
    from ad_signs.taxonomy import parse_taxonomy

    data = {"name": "x", "labels": {"A": {"definition": "a"}}}
    assert parse_taxonomy({**data, "unit": "sentence", "multi_label": True}).labels == ["A"]
    with pytest.raises(TaxonomyError, match=f"'{key}: .*' is not supported"):
        parse_taxonomy({**data, key: value})
