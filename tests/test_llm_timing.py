"""The benchmarks' timed LLM labeling (ad_signs.llm_timing) around a scripted test double, and the
several-sentences prompt that extends the packaged labeling template."""
import json

from ad_signs.llm_timing import label_rows, prompt_template
from ad_signs.taxonomy import load_taxonomy
from conftest import ROOT, FakeLLM

EXAMPLES = ROOT / "components/ad_signs/fewshot/label_examples.jsonl"
LABEL_TASK = {"@llm_tasks": "ad_signs.LabelSentences.v1", "examples": {"@misc": "spacy.FewShotReader.v1", "path": str(EXAMPLES)}}
MANY = ROOT / "benchmarks/prompts/label_many.jinja"


def render_many(task, texts):
    return prompt_template(MANY).render(texts=texts, **task.guideline())


def test_the_several_sentences_prompt_extends_the_packaged_one(fake_llm_factory):
    task = fake_llm_factory(LABEL_TASK, FakeLLM({})).get_pipe("llm").task
    one, many = task.render("First."), render_many(task, ["First.", "Second."])
    shared = [one[one.index("with the Alzheimer"): one.index("Answer with")],  # definitions and rules
              one[one.index("\nExamples:"): one.index("\n\nSentence: First.")]]  # few-shot examples
    assert all(part in many for part in shared)
    assert many.startswith("Label each of several sentences from clinical notes with the Alzheimer")
    assert 'Answer with one JSON object {"labels": [...]} per sentence, one per line' in many
    assert many.endswith("\n\nSentences:\n1. First.\n2. Second.\nAnswers, one line per sentence:")


def test_rows_labelled_one_per_prompt(fake_llm_factory):
    label = load_taxonomy().labels[0]
    nlp = fake_llm_factory(LABEL_TASK, FakeLLM({"A.": json.dumps({"labels": [label]}), "B.": "not JSON"}))
    predicted, seconds, rejects = label_rows(nlp, [{"text": "A."}, {"text": "B."}, {"text": "C."}])
    assert predicted == [{label}, set(), set()] and rejects == 1 and len(seconds) == 3


def test_rows_labelled_several_per_prompt(fake_llm_factory):
    label = load_taxonomy().labels[0]
    llm = FakeLLM({})
    prompts = []

    def choice_decoder(messages, n_answers):  # answers one line short: the last sentence is a reject
        prompts.append(messages[-1]["content"])
        return "\n".join([json.dumps({"labels": [label]})] + ['{"labels": []}'] * (n_answers - 2))

    llm.choice_decoder, llm.system_prompt = choice_decoder, "You label sentences."
    nlp = fake_llm_factory(LABEL_TASK, llm)
    rows = [{"text": f"Sentence {i}."} for i in range(5)]
    predicted, seconds, rejects = label_rows(nlp, rows, 3, prompt_template(MANY))
    assert predicted == [{label}, set(), set(), {label}, set()] and rejects == 2 and len(seconds) == 5
    task = nlp.get_pipe("llm").task
    assert prompts[1:] == [render_many(task, [row["text"] for row in group]) for group in (rows[:3], rows[3:])]
