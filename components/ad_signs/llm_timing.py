"""Timed LLM labeling of gold rows, one or several sentences per prompt: the loop that
benchmarks/llm_labeling.py and benchmarks/llm_speed.py share. Needs the `[llm]` extra.

Several sentences per prompt use a template of numbered sentences answered one line each by the
choice decoder (benchmarks/prompts/label_many.jinja). `prompt_template` loads it with the
packaged templates on the loader's path, so it can `{% extends "label.v1.jinja" %}`.
"""
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

import jinja2
from spacy.language import Language

from .llm import parsing
from .llm.batch_runner import chat_model
from .llm.parsing import AnswerError

WARM_UP = "Warm-up: the shared prompt prefix is evaluated once."


def prompt_template(path: Path) -> jinja2.Template:
    """The template in `path`, which may extend or include the packaged ones by name."""
    return parsing.prompt_template(path.read_text(encoding="utf8"), [path.parent])


def label_rows(nlp: Language, rows: Sequence[Dict], sentences_per_prompt: int = 1,
               template: Optional[jinja2.Template] = None) -> Tuple[List[Set[str]], List[float], int]:
    """(predicted label sets, seconds per sentence, rejects) for `rows` ({"text", ...}). One
    sentence per prompt uses the pipeline's own task; several need `template`. An answer that
    does not parse counts as a reject and scores as no label."""
    if sentences_per_prompt == 1:
        return _label_one_by_one(nlp, rows)
    if template is None:
        raise ValueError("several sentences per prompt need a prompt template")
    task = nlp.get_pipe("llm").task
    pred_sets, seconds, rejects = [], [], 0
    for group, answers, took in ask_several(nlp, rows, sentences_per_prompt, template):
        answers += [""] * (len(group) - len(answers))  # a missing line is a reject
        for answer in answers[: len(group)]:
            try:
                pred_sets.append(set(task.read_answer(answer)[0]))
            except AnswerError:
                rejects += 1
                pred_sets.append(set())
            seconds.append(took / len(group))
    return pred_sets, seconds, rejects


def label_together(nlp: Language, rows: Sequence[Dict], n: int) -> Tuple[List[Set[str]], float, int]:
    """(predicted label sets, seconds per sentence, rejects) for `rows` answered `n` at a time in
    one llama.cpp context (the pipeline's model has n_parallel = n), after a warm-up."""
    list(nlp.pipe([WARM_UP, "A second sentence."], batch_size=n))
    started = time.perf_counter()
    docs = list(nlp.pipe((row["text"] for row in rows), batch_size=n))
    seconds = (time.perf_counter() - started) / len(rows)
    predicted = [{label for label, score in doc.cats.items() if score >= 0.5} for doc in docs]
    return predicted, seconds, sum("llm_reject" in doc.user_data for doc in docs)


def _label_one_by_one(nlp: Language, rows: Sequence[Dict]) -> Tuple[List[Set[str]], List[float], int]:
    pred_sets, seconds, rejects = [], [], 0
    for row in rows:
        started = time.perf_counter()
        doc = nlp(row["text"])
        seconds.append(time.perf_counter() - started)
        rejects += "llm_reject" in doc.user_data
        pred_sets.append({label for label, score in doc.cats.items() if score >= 0.5})
    return pred_sets, seconds, rejects


def ask_several(nlp: Language, rows: Sequence[Dict], n: int,
                template: jinja2.Template) -> Iterator[Tuple[Sequence[Dict], List[str], float]]:
    """Yield (rows, answer lines, seconds) for prompts of `n` sentences each (the last may be shorter)."""
    task, model = nlp.get_pipe("llm").task, chat_model(nlp)
    if model.choice_decoder is None:
        raise ValueError("several sentences per prompt needs the choice decoder (llama.cpp, temperature 0)")

    def ask(texts: List[str]) -> List[str]:
        prompt = template.render(texts=texts, **task.guideline())
        messages = [{"role": "system", "content": model.system_prompt}, {"role": "user", "content": prompt}]
        return model.choice_decoder(messages, n_answers=len(texts)).split("\n")

    ask([WARM_UP])
    for i in range(0, len(rows), n):
        group = rows[i : i + n]
        started = time.perf_counter()
        answers = ask([row["text"] for row in group])
        yield group, answers, time.perf_counter() - started
