"""Both LLM directions with the real tasks and parsers around a scripted test double (FakeLLM)."""
import json
from dataclasses import asdict, replace

import pytest
import srsly
from spacy.tokens import DocBin

from ad_signs.llm.batch_runner import generate_docs, label_docs
from ad_signs.llm.generate_task import HARD_NEGATIVES, OPENERS, GenerateTask, plan_requests
from ad_signs.llm.parsing import read_template
from ad_signs.readers import write_docs
from ad_signs.taxonomy import load_taxonomy
from conftest import ROOT, FakeLLM

LABEL_TASK = {
    "@llm_tasks": "ad_signs.LabelSentences.v1",
    "examples": {"@misc": "spacy.FewShotReader.v1", "path": str(ROOT / "components/ad_signs/fewshot/label_examples.jsonl")},
}


def test_prompt_carries_definitions_rules_labels_and_examples(fake_llm_factory):
    llm = FakeLLM({})
    nlp = fake_llm_factory(LABEL_TASK, llm)
    nlp("Wife says he forgets names.")
    prompt = llm.prompts[0]
    taxonomy = load_taxonomy()
    for label, definition in taxonomy.definitions.items():
        assert f"- {label}: {definition}" in prompt
    assert "No category for: family history" in prompt and "No category for: negated mentions" in prompt
    rules = [c.rule for c in taxonomy.categories if c.rule]  # label rules come from the taxonomy too
    assert rules and all(f"\n- {rule}\n" in prompt for rule in rules)
    assert 'Sentence: Denies memory loss, confusion or recent falls.\nAnswer: {"labels": []}' in prompt
    assert prompt.rstrip().endswith("Sentence: Wife says he forgets names.\nAnswer:")


def test_the_v2_prompt_starts_the_answer_with_the_sentence(fake_llm_factory):
    """label.v2: v1's guideline, examples as JSON lines, and the sentence at the start of the
    model's own turn; a backend that cannot continue an answer gets it in the user's turn."""
    from ad_signs.llm.models import ANSWER_START, ChatModel, fold_answer_start

    llm = FakeLLM({'Wife says "he" forgets names.': '{"labels": ["NOTICE_BY_OTHERS"]}'})
    nlp = fake_llm_factory({**LABEL_TASK, "@llm_tasks": "ad_signs.LabelSentences.v2"}, llm)
    assert nlp('Wife says "he" forgets names.').cats["NOTICE_BY_OTHERS"] == 1.0
    v2 = llm.prompts[0]
    fake_llm_factory(LABEL_TASK, llm)("Wife says he forgets names.")
    guideline = llm.prompts[1].partition("Answer with JSON")[0]
    assert v2.startswith(guideline) and "No category for: family history" in guideline
    examples = [json.loads(line) for line in v2.splitlines() if line.startswith('{"sentence": ')]
    assert {"sentence": "Denies memory loss, confusion or recent falls.", "labels": []} in examples
    request, _, start = v2.partition(ANSWER_START)
    assert request.endswith("Label the next sentence the same way.")
    assert start == '{"sentence": "Wife says \\"he\\" forgets names.", "labels":'
    chat = ChatModel(system_prompt="S", response_format=None, temperature=0.0, max_tokens=8, seed=0, cache_path=None)
    messages = chat._messages(v2)
    assert [m["role"] for m in messages] == ["system", "user", "assistant"] and messages[2]["content"] == start
    folded = fold_answer_start(messages)
    assert [m["role"] for m in folded] == ["system", "user"] and folded[1]["content"] == f"{request}\n\n{start}"
    assert fold_answer_start(folded) == folded


def test_the_v3_task_names_categories_by_their_answer_names_and_reads_the_labels_back(fake_llm_factory):
    """LabelSentences.v3: the v2 prompt with each category's short answer name (fewer tokens to
    decode); the answer, its confidence included, is read back into the taxonomy's labels."""
    from ad_signs.llm.label_task import make_label_answer_schema_v2

    taxonomy = load_taxonomy()
    names = taxonomy.answer_names
    assert names["NEUROPSYCHIATRIC_SYMPTOMS"] == "psychiatric" and len(set(names.values())) == len(names)
    confidence = {name: 0.9 if name in ("others", "cognition") else 0.1 for name in names.values()}
    llm = FakeLLM({"Wife says he forgets names.": json.dumps({"labels": ["others", "cognition"], "confidence": confidence}),
                   "MoCA 22/30.": '{"labels": ["COGNITIVE_ASSESSMENT"]}'})  # a label, not its answer name: rejected
    nlp = fake_llm_factory({**LABEL_TASK, "@llm_tasks": "ad_signs.LabelSentences.v3"}, llm)
    doc = nlp("Wife says he forgets names.")
    assert {label for label, on in doc.cats.items() if on} == {"NOTICE_BY_OTHERS", "COGNITIVE_IMPAIRMENT"}
    assert doc.user_data["llm_confidence"]["NOTICE_BY_OTHERS"] == 0.9 and set(doc.user_data["llm_confidence"]) == set(names)
    assert not nlp("MoCA 22/30.").cats
    prompt = llm.prompts[0]
    for label, definition in taxonomy.definitions.items():
        assert f"- {names[label]}: {definition}" in prompt and label not in prompt
    assert "- others needs a named other person" in prompt  # the rules name categories the same way
    assert '{"sentence": "Denies memory loss, confusion or recent falls.", "labels": []}' in prompt
    assert '"labels": ["assessment", "cognition"]}' in prompt  # the examples' labels too
    assert make_label_answer_schema_v2()["properties"]["labels"]["items"]["enum"] == list(names.values())


def test_answer_names_are_lower_case_and_distinct():
    from ad_signs.taxonomy import TaxonomyError, parse_taxonomy

    spec = {"name": "t", "labels": {"MEMORY": {"definition": "d", "answer_name": "memory"}, "MOOD": {"definition": "d"}}}
    assert parse_taxonomy(spec).answer_names == {"MEMORY": "memory", "MOOD": "MOOD"}  # none given: the label
    for bad in ("Memory", "two words", 3):
        with pytest.raises(TaxonomyError, match="lower-case word"):
            parse_taxonomy({**spec, "labels": {"MEMORY": {"definition": "d", "answer_name": bad}}})
    with pytest.raises(TaxonomyError, match="share an answer_name"):
        parse_taxonomy({**spec, "labels": {"MEMORY": {"definition": "d", "answer_name": "m"}, "MOOD": {"definition": "d", "answer_name": "m"}}})


def test_labels_parsed_and_malformed_answers_kept_aside(fake_llm_factory, tmp_path):
    llm = FakeLLM(
        {
            "Wife says he forgets names.": '{"labels": ["NOTICE_BY_OTHERS", "COGNITIVE_IMPAIRMENT"]}',
            "BP 120/80.": '{"labels": []}',
            "Started donepezil.": "AD_TREATMENT",  # chatty answer: not JSON
            "MoCA 22/30.": '{"labels": ["MOCA"]}',  # not a label of the taxonomy
        }
    )
    nlp = fake_llm_factory(LABEL_TASK, llm)
    texts = ["Wife says he forgets names.", "BP 120/80.", "Started donepezil.", "MoCA 22/30."]
    rejects_path = tmp_path / "rejects.jsonl"
    docs, summary = label_docs(nlp, (nlp.make_doc(t) for t in texts), rejects_path)
    assert [d.text for d in docs] == texts[:2]
    assert docs[0].cats["NOTICE_BY_OTHERS"] == 1.0 and docs[0].cats["COGNITIVE_IMPAIRMENT"] == 1.0
    assert len(docs[1].cats) == len(load_taxonomy().labels) and sum(docs[1].cats.values()) == 0  # "no label" is an answer, all zeros
    assert summary.items == 4 and summary.rejects == 2 and summary.docs == 2
    rejects = list(srsly.read_jsonl(rejects_path))
    assert [r["text"] for r in rejects] == texts[2:]
    assert rejects[0]["answer"] == "AD_TREATMENT" and "not valid JSON" in rejects[0]["error"]
    assert "unknown label" in rejects[1]["error"] and "Sentence: MoCA 22/30." in rejects[1]["prompt"]
    written = write_docs(docs, tmp_path / "silver.spacy")
    loaded = list(DocBin().from_disk(tmp_path / "silver.spacy").get_docs(nlp.vocab))
    assert written == 2 and loaded[0].cats == docs[0].cats and "llm_io" not in loaded[0].user_data


def test_generation_docs_carry_their_label_and_zeros(fake_llm_factory, tmp_path):
    taxonomy = load_taxonomy()
    answer = json.dumps({"sentences": ["Pt repeats questions.", "Forgot stove on twice."]})
    llm = FakeLLM({}, default=answer)
    nlp = fake_llm_factory({"@llm_tasks": "ad_signs.GenerateSentences.v1", "per_prompt": 2}, llm)
    requests = plan_requests(taxonomy, {"COGNITIVE_IMPAIRMENT": 2}, negatives_per_label=0, per_prompt=2, seed=1)
    docs, summary = generate_docs(nlp, taxonomy, requests, tmp_path / "rejects.jsonl")
    assert [d.text for d in docs] == ["Pt repeats questions.", "Forgot stove on twice."]
    assert docs[0].cats == taxonomy.cats(["COGNITIVE_IMPAIRMENT"])
    assert "Write 2 different lines" in llm.prompts[0] and taxonomy.definitions["COGNITIVE_IMPAIRMENT"] in llm.prompts[0]
    assert f"Write about: {requests[0].facet};" in llm.prompts[0]  # the sub-sign of the label this prompt is about
    assert summary.labels["COGNITIVE_IMPAIRMENT"] == 2


def test_generation_rejects_and_hard_negatives(fake_llm_factory, tmp_path):
    taxonomy = load_taxonomy()
    llm = FakeLLM({}, default="Here are some sentences: 1. Pt confused.")
    nlp = fake_llm_factory({"@llm_tasks": "ad_signs.GenerateSentences.v1", "per_prompt": 3}, llm)
    requests = plan_requests(taxonomy, {"DIAGNOSIS": 0}, negatives_per_label=9, per_prompt=3, seed=1)
    assert [(r.label, r.polarity) for r in requests] == [
        ("DIAGNOSIS", "negated"), ("DIAGNOSIS", "hypothetical"), ("DIAGNOSIS", "family_history")
    ]
    docs, summary = generate_docs(nlp, taxonomy, requests[:1], tmp_path / "rejects.jsonl")
    assert docs == [] and summary.rejects == 1
    assert "not valid JSON" in next(srsly.read_jsonl(tmp_path / "rejects.jsonl"))["error"]


def test_plan_varies_context_and_is_seeded():
    taxonomy = load_taxonomy()
    a = plan_requests(taxonomy, 20, 10, 5, seed=3)
    assert {r.polarity for r in a} == {"positive", *HARD_NEGATIVES}  # two negative prompts a label: all kinds used
    assert a == plan_requests(taxonomy, 20, 10, 5, seed=3)
    assert len(a) == len(taxonomy.labels) * (4 + 2)
    assert len({r.note_type for r in a}) >= 5 and len({r.style for r in a}) >= 4
    assert a != plan_requests(taxonomy, 20, 10, 5, seed=4)


def test_a_label_combination_is_written_and_checked_as_one():
    """Bronze written for one label at a time lacks what gold's lines show together
    (NOTICE_BY_OTHERS always with what was noticed): a combination asks every line for all."""
    import spacy

    from ad_signs.filters import roundtrip_agrees
    from ad_signs.llm.generate_task import make_generate_task

    taxonomy = load_taxonomy()
    plan = plan_requests(taxonomy, {"NOTICE_BY_OTHERS+COGNITIVE_IMPAIRMENT": 20, "DIAGNOSIS": 10}, 10, 10, seed=0)
    pairs = [r for r in plan if r.also]
    assert len(pairs) == 2 and {r.polarity for r in pairs} == {"positive"}  # hard negatives only for single labels
    assert pairs[0].labels == ("NOTICE_BY_OTHERS", "COGNITIVE_IMPAIRMENT") and pairs[0].facet in taxonomy["NOTICE_BY_OTHERS"].facets
    assert sorted(r.polarity != "positive" for r in plan if not r.also) == [False, True]  # DIAGNOSIS: 1 positive, 1 negative prompt
    task = make_generate_task(per_prompt=10, template=str(ROOT / "components/ad_signs/llm/templates/generate.v3.jinja"))
    prompt = task.render(asdict(pairs[0]))
    assert "Category NOTICE_BY_OTHERS" in prompt and f"also clearly states, in the same sentence, Category COGNITIVE_IMPAIRMENT: {taxonomy.definitions['COGNITIVE_IMPAIRMENT']}" in prompt
    single = next(r for r in plan if not r.also and r.polarity == "positive")
    assert "also" not in task.render(asdict(single))  # a single label's prompt is as before (its cached answers stay valid)

    doc = spacy.blank("en").make_doc("Wife reports he repeats questions.")
    doc.user_data["source"] = asdict(pairs[0])
    assert roundtrip_agrees(doc, {doc.text: {"NOTICE_BY_OTHERS", "COGNITIVE_IMPAIRMENT", "DIAGNOSIS"}})
    assert not roundtrip_agrees(doc, {doc.text: {"NOTICE_BY_OTHERS"}})  # the second pass must find every label


def test_a_run_with_too_many_rejects_is_an_error():
    from ad_signs.llm.batch_runner import RunSummary, TooManyRejectsError, check_rejects

    summary = RunSummary("data-to-label", items=4, rejects=4)
    summary.reject_reasons["request failed"] = 4
    with pytest.raises(TooManyRejectsError, match="4 of 4 answers rejected \\(4 request failed\\)"):
        check_rejects(summary)
    summary.rejects = 3
    check_rejects(summary)  # the default fails only when every answer was rejected
    with pytest.raises(TooManyRejectsError):
        check_rejects(summary, max_reject_share=0.5)


def test_an_interrupted_write_keeps_the_previous_file(tmp_path):
    from ad_signs.atomic import replaced_when_done

    path = tmp_path / "out.spacy"
    path.write_text("previous")
    with pytest.raises(KeyboardInterrupt):
        with replaced_when_done(path) as partial:
            partial.write_text("half")
            raise KeyboardInterrupt
    assert path.read_text() == "previous" and list(tmp_path.iterdir()) == [path]
    with replaced_when_done(path) as partial:
        partial.write_text("complete")
    assert path.read_text() == "complete" and list(tmp_path.iterdir()) == [path]


def test_unparsed_answers_are_not_replayed_from_the_cache(fake_llm_factory, tmp_path):
    from ad_signs.llm.models import ChatModel

    class ScriptedChat(ChatModel):
        """Test double: a caching chat model that answers from a script keyed by the sentence."""

        def __init__(self, script):
            super().__init__(system_prompt="", response_format=None, temperature=0.0, max_tokens=8, seed=0,
                             cache_path=str(tmp_path / "answers.sqlite"))
            self.script, self.asked = script, []

        def complete(self, messages, seed):
            sentence = messages[-1]["content"].rstrip().rsplit("Sentence: ", 1)[1].split("\nAnswer:")[0]
            self.asked.append(sentence)
            return self.script[sentence]

    texts = ["Wife says he forgets names.", "Started donepezil."]
    broken = ScriptedChat({texts[0]: '{"labels": ["NOTICE_BY_OTHERS"]}', texts[1]: "AD_TREATMENT"})  # chatty: rejected
    nlp = fake_llm_factory(LABEL_TASK, FakeLLM({}))
    nlp.get_pipe("llm")._model = broken
    _, summary = label_docs(nlp, (nlp.make_doc(t) for t in texts), tmp_path / "rejects.jsonl")
    assert summary.rejects == 1 and summary.llm["forgotten"] == 1
    fixed = ScriptedChat({texts[0]: "never asked: cached", texts[1]: '{"labels": ["AD_TREATMENT"]}'})
    nlp.get_pipe("llm")._model = fixed
    docs, summary = label_docs(nlp, (nlp.make_doc(t) for t in texts), tmp_path / "rejects.jsonl")
    assert fixed.asked == [texts[1]] and summary.rejects == 0 and summary.llm["cached"] == 1
    assert docs[1].cats["AD_TREATMENT"] == 1.0


def test_prompts_of_a_label_cycle_through_its_facets():
    taxonomy = load_taxonomy()
    requests = plan_requests(taxonomy, {"COGNITIVE_IMPAIRMENT": 70}, negatives_per_label=0, per_prompt=10, seed=3)
    facets = taxonomy["COGNITIVE_IMPAIRMENT"].facets
    assert len(requests) == len(facets) == 7 and {r.facet for r in requests} == set(facets)


def test_each_prompt_asks_for_its_lines_to_open_differently():
    taxonomy = load_taxonomy()
    requests = plan_requests(taxonomy, 20, negatives_per_label=30, per_prompt=10, seed=3)
    for request in requests:
        assert len(request.openers) == len(set(request.openers)) == 10
        pool = taxonomy[request.label].openers if request.polarity == "positive" else OPENERS[request.polarity]
        assert set(request.openers) <= set(pool)
    task = GenerateTask(taxonomy, read_template("generate.v3.jinja", "unused"), per_prompt=10)
    prompt = task.render(asdict(requests[0]))
    assert "Start the lines with, in order: " + ", ".join(f'"{o}"' for o in requests[0].openers) + "." in prompt


def test_look_alike_negatives_are_the_taxonomys_unrelated_lines_of_a_label():
    """The guideline's "unrelated" hard negatives (routine medications, unrelated tests and
    diagnoses) per label: each prompt about one of the label's `look_alikes`, lines opening freely
    (a label's own openers, "MoCA", "Continue", would make them positives)."""
    from ad_signs.llm.generate_task import LOOK_ALIKE

    taxonomy = load_taxonomy()
    requests = plan_requests(taxonomy, {"AD_TREATMENT": 0}, negatives_per_label=30, per_prompt=10, seed=3,
                             negative_kinds=(LOOK_ALIKE,))
    look_alikes = taxonomy["AD_TREATMENT"].look_alikes
    assert [r.polarity for r in requests] == [LOOK_ALIKE] * 3 and {r.facet for r in requests} == set(look_alikes)
    assert all(r.openers == () for r in requests)
    prompt = GenerateTask(taxonomy, read_template("generate.v3.jinja", "unused"), per_prompt=10).render(asdict(requests[0]))
    assert f"Write about: {requests[0].facet};" in prompt and "reads like a line of this category but is NOT one" in prompt
    assert "Start the lines with" not in prompt
    # the default kinds, and so the default plans and their cached answers, are as before
    assert plan_requests(taxonomy, 20, 10, 5, seed=3) == plan_requests(taxonomy, 20, 10, 5, seed=3, negative_kinds=HARD_NEGATIVES)
    with pytest.raises(ValueError, match="choose from negated, hypothetical, family_history, look_alike"):
        plan_requests(taxonomy, 5, 5, 5, seed=0, negative_kinds=("sarcastic",))
    bare = replace(taxonomy, categories=tuple(replace(c, look_alikes=()) for c in taxonomy.categories))
    with pytest.raises(ValueError, match="No look_alikes in the taxonomy for DIAGNOSIS: add them"):
        plan_requests(bare, {"DIAGNOSIS": 5}, 5, 5, seed=0, negative_kinds=(LOOK_ALIKE,))


def test_a_template_is_inline_a_file_or_a_packaged_name():
    assert read_template("Label {{ text }}", "unused") == "Label {{ text }}"
    assert "Start the lines with" in read_template("generate.v3.jinja", "unused")
    with pytest.raises(ValueError, match="Template not found: prompts/mine.jinja.*generate.v3.jinja"):
        read_template("prompts/mine.jinja", "unused")
