"""The default model: a GGUF run in-process by llama-cpp-python."""
import json
import os
from typing import Any, Dict, List, Optional, Union

from spacy_llm.registry import registry

from ..weights import DEFAULT_MODEL_SHA256, ENV_MODEL_PATH, check_sha256, load_error, resolve_model_path
from .base import DEFAULT_SYSTEM_PROMPT, ChatModel, fold_answer_start


class LlamaCppModel(ChatModel):
    """In-process llama.cpp: the GGUF is loaded once; the shared prompt prefix stays in the KV cache."""

    def __init__(
        self,
        *,
        path: Optional[str],
        sha256: Union[str, int, None],
        n_ctx: int,
        n_threads: Optional[int],
        n_batch: int,
        reuse_prefix: bool,
        choice_decoding: bool,
        stop_bias: float,
        n_parallel: int,
        verbose: bool,
        **settings: Any,
    ):
        super().__init__(**settings)
        if n_parallel < 1:
            raise ValueError(f"n_parallel must be 1 or more, not {n_parallel}")
        from llama_cpp import Llama, LlamaGrammar

        from ..batched import PrefixStates
        from ..choice_decoding import ChoiceDecoder, enum_array_schema
        from ..weights import cache_dir

        self.path = resolve_model_path(path, sha256)
        # The file's verified SHA-256 (a pin, or the default model's), for data cards; None if unpinned.
        self.sha256 = check_sha256(sha256) or (None if path or os.environ.get(ENV_MODEL_PATH) else DEFAULT_MODEL_SHA256)
        self.reuse_prefix = reuse_prefix
        try:
            self.llm = Llama(
                model_path=str(self.path),
                n_ctx=n_ctx,
                n_threads=n_threads or os.cpu_count(),
                n_batch=n_batch,
                seed=self.seed,
                verbose=verbose,
            )
        except ValueError as err:  # llama-cpp-python's "Failed to load model from file"
            raise load_error(self.path, err) from None
        # With prefix reuse, prompt prefixes' KV states are also kept on disk, for the next run.
        self.prefix_states = (
            PrefixStates(cache_dir() / "prefix_states", self.path, self.llm.context_params.flash_attn_type)
            if reuse_prefix
            else None
        )
        self.context_length = n_ctx
        # Build the grammar once rather than from the schema at every call.
        self.grammar = (
            LlamaGrammar.from_json_schema(json.dumps(self.response_format), verbose=False)
            if self.response_format
            else None
        )
        # A label-set answer at temperature 0: choose among allowed labels, forced tokens batched.
        choices = enum_array_schema(self.response_format)
        self.choice_decoder = (
            ChoiceDecoder(self.llm, *choices, reuse_prefix=reuse_prefix, stop_bias=stop_bias, states=self.prefix_states)
            if choice_decoding and choices and self.temperature == 0
            else None
        )
        # n_parallel > 1: that many prompts advance together in each decode call (batched.py).
        self.n_parallel = n_parallel
        self._parallel = None

    def model_identity(self) -> Dict[str, Any]:
        return {
            "model": self.path.name,
            "size": self.path.stat().st_size,
            "decoding": (f"choice.v2(stop_bias={self.choice_decoder.stop_bias})" if self.choice_decoder else "grammar")
            + (f", {self.n_parallel} in parallel" if self.n_parallel > 1 else ""),
        }

    def complete_together(self, conversations: List[List[Dict[str, str]]], seeds: List[int]) -> List[str]:
        from ..batched import ParallelContext, chat_formatter, chat_tokens

        if self._parallel is None:
            self._parallel = ParallelContext(self.llm, self.n_parallel, states=self.prefix_states)
            self._formatter = chat_formatter(self.llm)
            self._gbnf = None
            if self.response_format:
                from llama_cpp.llama_grammar import json_schema_to_gbnf

                self._gbnf = json_schema_to_gbnf(json.dumps(self.response_format))
        if self.choice_decoder is not None:
            return self.choice_decoder.answer_together(self._parallel, conversations)
        prompts = [chat_tokens(self.llm, self._formatter, fold_answer_start(messages)) for messages in conversations]
        return self._parallel.sample(prompts, seeds, self._gbnf, self.temperature, self.max_tokens)

    def complete(self, messages: List[Dict[str, str]], seed: int) -> str:
        if self.choice_decoder is not None:
            return self.choice_decoder(messages)
        if not self.reuse_prefix:
            self.llm.reset()  # forget the KV cache: every prompt is evaluated from scratch
        result = self.llm.create_chat_completion(
            messages=fold_answer_start(messages),  # the grammar constrains a whole answer
            grammar=self.grammar,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            seed=seed,
        )
        return result["choices"][0]["message"]["content"] or ""


# A forwarding factory, as spacy-llm's own: its signature is the registered config (names, defaults,
# docs), the class does the work; the shared settings repeat in each backend's factory by design.
@registry.llm_models("ad_signs.LlamaCpp.v1")
def llama_cpp_model(
    path: Optional[str] = None,
    sha256: Union[str, int, None] = None,
    response_format: Optional[Dict[str, Any]] = None,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    temperature: float = 0.0,
    max_tokens: int = 256,
    seed: int = 0,
    n_ctx: int = 4096,
    n_threads: Optional[int] = None,
    n_batch: int = 512,
    reuse_prefix: bool = True,
    choice_decoding: bool = True,
    stop_bias: float = 0.0,
    n_parallel: int = 1,
    cache_path: Optional[str] = None,
    verbose: bool = False,
) -> LlamaCppModel:
    """A local GGUF model run in-process by llama-cpp-python.

    path: a GGUF file; default $AD_SIGNS_GGUF, else the Qwen2.5-Coder-1.5B-Instruct parts from PyPI.
    sha256: if set, the file is checked against it before first use.
    response_format: JSON schema every answer must follow (grammar-constrained decoding).
    reuse_prefix: keep the KV cache of the shared prompt prefix between prompts (answered together:
        also on disk, in the cache folder, for the next run).
    choice_decoding: for a label-set schema at temperature 0, decode by choosing among the
        allowed labels with forced tokens batched (same greedy answer, about twice as fast).
    stop_bias: with choice decoding, a logit bonus for ending the label list (> 0: fewer labels).
    n_parallel: prompts answered together, one sequence each in one llama.cpp context, their
        shared prefix evaluated once; on a CPU a step for 32 costs little more than for 1 (llm/batched.py).
    cache_path: SQLite file of answers, for resumable runs; None turns the cache off.
    """
    return LlamaCppModel(
        path=path,
        sha256=sha256,
        n_ctx=n_ctx,
        n_threads=n_threads,
        n_batch=n_batch,
        reuse_prefix=reuse_prefix,
        choice_decoding=choice_decoding,
        stop_bias=stop_bias,
        n_parallel=n_parallel,
        verbose=verbose,
        system_prompt=system_prompt,
        response_format=response_format,
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
        cache_path=cache_path,
    )
