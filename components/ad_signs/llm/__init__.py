"""spacy-llm registered functions: models (local llama.cpp, OpenAI-compatible) and the two tasks.

Importing this module registers them; installed packages also expose them through entry points.
"""
from . import generate_task, label_task, models  # noqa: F401  (registers the functions)
