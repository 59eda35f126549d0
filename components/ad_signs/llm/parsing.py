"""Reading LLM answers, shared by the two tasks: answer errors, strict JSON objects, the
`parse_responses` loop that sets a rejected answer aside, and the prompt templates.

A model yields a `FailedAnswer` for a request that failed after retries; the parsers treat it
as a rejected answer, never as "no label" or "no sentences".
"""
import json
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

import jinja2
import jinja2.sandbox
from spacy.tokens import Doc

TEMPLATES = Path(__file__).parent / "templates"
REJECT_KEY = "llm_reject"  # doc.user_data: {"error", "answer"} of an answer the task could not parse


class AnswerError(ValueError):
    """An LLM answer that is not a valid answer for the task."""


class FailedAnswer(str):
    """The text of a request that failed after all retries (not a model answer)."""


def strip_code_fence(answer: str) -> str:
    """Remove one surrounding Markdown code fence (```json ... ```), as chat models add them."""
    text = answer.strip()
    if text.startswith("```") and text.endswith("```") and len(text) >= 6:
        text = text[3:-3]
        text = text[4:] if text.startswith("json") else text
    return text.strip()


def only_answer(answers: Union[str, Sequence[str]]) -> str:
    return answers if isinstance(answers, str) else list(answers)[0]


def load_json_object(answer: str, key: str, optional: Sequence[str] = ()) -> Dict[str, Any]:
    """An answer that must be a JSON object with `key` and no other keys than `optional`."""
    if isinstance(answer, FailedAnswer):
        raise AnswerError(f"request failed: {answer}")
    try:
        data = json.loads(strip_code_fence(answer))
    except json.JSONDecodeError as err:
        raise AnswerError(f"not valid JSON ({err.msg} at char {err.pos})") from None
    if not isinstance(data, dict) or key not in data or set(data) - {key, *optional}:
        raise AnswerError(f'expected a JSON object with the single key "{key}"')
    return data


def parse_responses(
    docs: Iterable[Doc],
    responses: Iterable[Union[str, Sequence[str]]],
    apply: Callable[[Doc, str], None],
    reject: Callable[[Doc], None],
) -> Iterable[Doc]:
    """A task's `parse_responses`: `apply` sets the parsed answer on its doc, or raises
    AnswerError; then `reject` clears the doc and the answer is recorded under REJECT_KEY."""
    # spacy-llm types a non-sharding task's responses as str but passes a 1-list per doc.
    for doc, answers in zip(docs, responses):
        answer = only_answer(answers)
        try:
            apply(doc, answer)
            doc.user_data.pop(REJECT_KEY, None)
        except AnswerError as err:
            reject(doc)
            doc.user_data[REJECT_KEY] = {"error": str(err), "answer": str(answer)}
        yield doc


def prompt_template(template: str, search: Sequence[Path] = ()) -> jinja2.Template:
    """A sandboxed Jinja template that may extend or include the packaged ones (and the files in
    `search`) by name; `|json` writes a value as JSON (unlike `|tojson`, without HTML escapes)."""
    folders: List[str] = [*map(str, search), str(TEMPLATES)]
    env = jinja2.sandbox.SandboxedEnvironment(loader=jinja2.FileSystemLoader(folders))
    env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False)
    return env.from_string(template)


def read_template(template: Optional[str], default: str) -> str:
    """A template given inline, as a path to a .jinja file, by the name of a packaged one
    (`ad_signs/llm/templates/`), or the packaged default."""
    if template is None:
        return (TEMPLATES / default).read_text(encoding="utf8")
    path = Path(template)
    if path.suffix != ".jinja" or "\n" in template:
        return template
    for candidate in (path, TEMPLATES / path.name if path.name == template else None):
        if candidate is not None and candidate.is_file():
            return candidate.read_text(encoding="utf8")
    packaged = ", ".join(sorted(p.name for p in TEMPLATES.glob("*.jinja")))
    raise ValueError(f"Template not found: {template}. Give a path to a .jinja file, or one of the packaged: {packaged}.")
