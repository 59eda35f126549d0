"""spacy-llm models: the default in-process llama.cpp model and any OpenAI-compatible endpoint,
laid out as spacy-llm's `models/rest/`: a base class (`base.py`) and one module per backend.

Both follow spacy-llm's model contract, `(Iterable[Iterable[str]]) -> Iterable[Iterable[str]]`
(one inner iterable of prompts per doc), send each prompt as a chat turn after a fixed system
prompt (a prompt may also start the model's answer: `ANSWER_START`), constrain the answer with a JSON schema, and keep every answer in an `AnswerCache`.
Importing this package registers `ad_signs.LlamaCpp.v1` and `ad_signs.OpenAICompatible.v1`.
"""
from ..parsing import FailedAnswer
from .base import ANSWER_START, DEFAULT_SYSTEM_PROMPT, RECENT_ANSWERS, ChatModel, fold_answer_start, is_off_machine
from .llama_cpp import LlamaCppModel, llama_cpp_model
from .openai_compatible import OpenAICompatibleModel, RetryableError, openai_compatible_model

__all__ = [
    "ANSWER_START", "DEFAULT_SYSTEM_PROMPT", "RECENT_ANSWERS", "ChatModel", "FailedAnswer", "LlamaCppModel",
    "OpenAICompatibleModel", "RetryableError", "fold_answer_start", "is_off_machine", "llama_cpp_model", "openai_compatible_model",
]
