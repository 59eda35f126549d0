"""spacy-llm models: the default in-process llama.cpp model and any OpenAI-compatible endpoint.

Both follow spacy-llm's model contract, `(Iterable[Iterable[str]]) -> Iterable[Iterable[str]]`
(one inner iterable of prompts per doc), send each prompt as a chat turn after a fixed system
prompt, constrain the answer with a JSON schema, and keep every answer in an `AnswerCache`.
A prompt whose request fails after retries yields a `FailedAnswer`, which the tasks' strict
parsers count and set aside as a reject; failures are never cached, and an answer the task cannot parse is dropped from the
cache (`forget`), so a re-run asks again.
"""
import ipaddress
import json
import logging
import os
import random
import threading
import time
from collections import Counter, OrderedDict
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union
from urllib.parse import urlparse

from spacy_llm.registry import registry

from .answer_cache import AnswerCache, answer_key
from .model_file import DEFAULT_MODEL_SHA256, ENV_MODEL_PATH, check_sha256, load_error, resolve_model_path

logger = logging.getLogger("ad_signs")

DEFAULT_SYSTEM_PROMPT = "You are a careful clinical annotator. Answer only in the requested JSON format."


def is_off_machine(host: str) -> bool:
    """Whether prompts sent to `host` leave this machine (anything but loopback)."""
    if not host or host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost
        return True


RECENT_ANSWERS = 4096  # answers whose cache keys are kept for `forget`: many batches' worth


class FailedAnswer(str):
    """The text of a request that failed after all retries (not a model answer)."""


class ChatModel:
    """Shared behaviour: nested prompt protocol, answer cache, per-prompt seeds, run statistics."""

    max_concurrency = 1  # threads sending requests (an endpoint)
    n_parallel = 1  # answers sampled together in one batch (llama.cpp)
    # Where prompts go: "" for this process, else the endpoint's host.
    host = ""

    def __init__(
        self,
        *,
        system_prompt: str,
        response_format: Optional[Dict[str, Any]],
        temperature: float,
        max_tokens: int,
        seed: int,
        cache_path: Optional[str],
    ):
        self.system_prompt = system_prompt
        self.response_format = response_format
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.cache = AnswerCache(cache_path) if cache_path else None
        self.stats: Counter = Counter()
        self.failures: List[Dict[str, str]] = []
        self._occurrences: Counter = Counter()
        # answer -> the cache keys that gave it (two prompts can get the same text), newest last
        self._recent_keys: "OrderedDict[str, List[str]]" = OrderedDict()
        self._lock = threading.Lock()

    @cached_property
    def identity(self) -> Dict[str, Any]:
        """What makes an answer this model's (part of every cache key); fixed once built."""
        return {
            "system_prompt": self.system_prompt,
            "response_format": self.response_format,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            **self.model_identity(),
        }

    def model_identity(self) -> Dict[str, Any]:
        """The model itself: subclasses name the file or the endpoint and model."""
        return {}

    def __call__(self, prompts: Iterable[Iterable[str]]) -> Iterable[Iterable[str]]:
        per_doc = [list(doc_prompts) for doc_prompts in prompts]
        flat = [prompt for doc_prompts in per_doc for prompt in doc_prompts]
        with self._lock:  # occurrence numbers follow input order, whatever the concurrency
            keyed = []
            for prompt in flat:
                keyed.append((prompt, self._occurrences[prompt]))
                self._occurrences[prompt] += 1
        if self.n_parallel > 1 and len(keyed) > 1:
            answers = iter(self.answer_together(keyed))
        elif self.max_concurrency > 1 and len(keyed) > 1:
            with ThreadPoolExecutor(self.max_concurrency) as pool:
                answers = iter(list(pool.map(lambda pk: self.answer(*pk), keyed)))
        else:
            answers = (self.answer(*pk) for pk in keyed)
        for doc_prompts in per_doc:
            yield [next(answers) for _ in doc_prompts]

    def _messages(self, prompt: str) -> List[Dict[str, str]]:
        return [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": prompt}]

    def _seed(self, key: str) -> int:
        # A seed per prompt and occurrence: sampled answers are reproducible in any order.
        return (self.seed + int(key[:8], 16)) % (2**31)

    def _cached(self, key: str) -> Optional[str]:
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            self._count("cached")
            self._remember(cached, key)
        return cached

    def _failed(self, prompt: str, err: Exception) -> FailedAnswer:
        """A request that failed is reported per prompt, never read as an answer."""
        self._count("failed")
        with self._lock:
            self.failures.append({"prompt": prompt, "error": f"{type(err).__name__}: {err}"})
        logger.warning("LLM request failed: %s", err)
        return FailedAnswer(f"{type(err).__name__}: {err}")

    def _answered(self, key: str, prompt: str, text: str) -> str:
        self._count("asked")
        if self.cache is not None:
            self.cache.put(key, str(self.identity.get("model")), prompt, text)
            self._remember(text, key)
        return text

    def answer(self, prompt: str, occurrence: int = 0) -> str:
        key = answer_key(self.identity, prompt, occurrence)
        cached = self._cached(key)
        if cached is not None:
            return cached
        try:
            text = self.complete(self._messages(prompt), self._seed(key))
        except Exception as err:
            return self._failed(prompt, err)
        return self._answered(key, prompt, text)

    def answer_together(self, keyed: List[Tuple[str, int]]) -> List[str]:
        """Answers to many prompts, the uncached ones asked `n_parallel` at a time."""
        keys = [answer_key(self.identity, prompt, occurrence) for prompt, occurrence in keyed]
        answers: List[Optional[str]] = [self._cached(key) for key in keys]
        missing = [i for i, answer in enumerate(answers) if answer is None]
        for start in range(0, len(missing), self.n_parallel):
            group = missing[start : start + self.n_parallel]
            try:
                texts = self.complete_together([self._messages(keyed[i][0]) for i in group], [self._seed(keys[i]) for i in group])
            except Exception as err:
                texts = [self._failed(keyed[i][0], err) for i in group]
            for i, text in zip(group, texts):
                answers[i] = text if isinstance(text, FailedAnswer) else self._answered(keys[i], keyed[i][0], text)
        return answers

    def _remember(self, answer: str, key: str) -> None:
        with self._lock:
            keys = self._recent_keys.setdefault(answer, [])
            if key not in keys:
                keys.append(key)
            self._recent_keys.move_to_end(answer)
            while len(self._recent_keys) > RECENT_ANSWERS:
                self._recent_keys.popitem(last=False)

    def forget(self, answer: str) -> bool:
        """Drop a recent answer from the cache (the task could not parse it), so that a later run
        asks again instead of replaying it; one call per rejected answer, so the same text given to
        several prompts is forgotten once for each. False if no cached answer of this run is left."""
        with self._lock:
            keys = self._recent_keys.get(answer)
            key = keys.pop(0) if keys else None
            if keys is not None and not keys:
                del self._recent_keys[answer]
        if key is None or self.cache is None:
            return False
        self.cache.delete(key)
        self._count("forgotten")
        return True

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def complete(self, messages: List[Dict[str, str]], seed: int) -> str:
        raise NotImplementedError

    def complete_together(self, conversations: List[List[Dict[str, str]]], seeds: List[int]) -> List[str]:
        """Several answers at once (`n_parallel` > 1); by default one after the other."""
        return [self.complete(messages, seed) for messages, seed in zip(conversations, seeds)]


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

        from .choice_decoding import ChoiceDecoder, enum_array_schema

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
            ChoiceDecoder(self.llm, *choices, reuse_prefix=reuse_prefix, stop_bias=stop_bias)
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
        from .batched import ParallelContext, chat_formatter, chat_tokens

        if self._parallel is None:
            self._parallel = ParallelContext(self.llm, self.n_parallel)
            self._formatter = chat_formatter(self.llm)
            self._gbnf = None
            if self.response_format:
                from llama_cpp.llama_grammar import json_schema_to_gbnf

                self._gbnf = json_schema_to_gbnf(json.dumps(self.response_format))
        if self.choice_decoder is not None:
            return self.choice_decoder.answer_together(self._parallel, conversations)
        prompts = [chat_tokens(self.llm, self._formatter, messages) for messages in conversations]
        return self._parallel.sample(prompts, seeds, self._gbnf, self.temperature, self.max_tokens)

    def complete(self, messages: List[Dict[str, str]], seed: int) -> str:
        if self.choice_decoder is not None:
            return self.choice_decoder(messages)
        if not self.reuse_prefix:
            self.llm.reset()  # forget the KV cache: every prompt is evaluated from scratch
        result = self.llm.create_chat_completion(
            messages=messages,
            grammar=self.grammar,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            seed=seed,
        )
        return result["choices"][0]["message"]["content"] or ""


class OpenAICompatibleModel(ChatModel):
    """Any server with `/v1/chat/completions` (vLLM, llama.cpp server, Ollama, OpenAI).

    Unlike spacy-llm's OpenAI models it contacts nothing at construction time.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key_env: Optional[str],
        timeout: float,
        max_retries: int,
        backoff: float,
        max_concurrency: int,
        schema_style: str,
        **settings: Any,
    ):
        super().__init__(**settings)
        import requests

        if schema_style not in ("json_schema", "json_object"):
            raise ValueError(f"schema_style must be 'json_schema' or 'json_object', not '{schema_style}'.")
        self.schema_style = schema_style
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.host = urlparse(self.url).hostname or ""
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_concurrency = max_concurrency
        self.session = requests.Session()
        api_key = os.environ.get(api_key_env, "") if api_key_env else ""
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    def model_identity(self) -> Dict[str, Any]:
        return {"model": self.model, "url": self.url}

    def request_body(self, messages: List[Dict[str, str]], seed: int) -> Dict[str, Any]:
        body: Dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": seed,
        }
        if self.response_format and self.schema_style == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "strict": True, "schema": self.response_format},
            }
        elif self.response_format:  # llama-cpp-python's server
            body["response_format"] = {"type": "json_object", "schema": self.response_format}
        return body

    def complete(self, messages: List[Dict[str, str]], seed: int) -> str:
        import requests

        body = self.request_body(messages, seed)
        for attempt in range(self.max_retries + 1):
            try:
                response = self.session.post(self.url, json=body, timeout=self.timeout)
                if response.status_code == 429 or response.status_code >= 500:
                    raise RetryableError(f"HTTP {response.status_code}: {response.text[:200]}")
                response.raise_for_status()
                return response.json()["choices"][0]["message"]["content"] or ""
            except (RetryableError, requests.ConnectionError, requests.Timeout) as err:
                if attempt == self.max_retries:
                    raise RuntimeError(f"{self.url} failed after {attempt + 1} attempts: {err}") from err
                self._count("retried")
                time.sleep(self.backoff * 2**attempt * (1 + random.random()))
        raise AssertionError("unreachable")


class RetryableError(RuntimeError):
    """A 429 or 5xx answer: worth another try after a pause."""


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
    reuse_prefix: keep the KV cache of the shared prompt prefix between prompts.
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


@registry.llm_models("ad_signs.OpenAICompatible.v1")
def openai_compatible_model(
    base_url: str,
    model: str,
    api_key_env: Optional[str] = "OPENAI_API_KEY",
    response_format: Optional[Dict[str, Any]] = None,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    temperature: float = 0.0,
    max_tokens: int = 256,
    seed: int = 0,
    timeout: float = 60.0,
    max_retries: int = 4,
    backoff: float = 1.0,
    max_concurrency: int = 4,
    schema_style: str = "json_schema",
    cache_path: Optional[str] = None,
) -> OpenAICompatibleModel:
    """A model behind an OpenAI-compatible `/v1/chat/completions` endpoint.

    base_url: e.g. http://127.0.0.1:8000/v1 (vLLM), http://127.0.0.1:11434/v1 (Ollama).
    api_key_env: name of the environment variable holding the API key (none is sent if unset).
    max_retries, backoff: connection errors, timeouts, 429 and 5xx are retried with exponential backoff.
    max_concurrency: requests in flight at once.
    schema_style: how the JSON schema is sent: "json_schema" (OpenAI, vLLM, Ollama) or
        "json_object" (llama-cpp-python's server).
    """
    return OpenAICompatibleModel(
        base_url=base_url,
        model=model,
        api_key_env=api_key_env,
        timeout=timeout,
        max_retries=max_retries,
        backoff=backoff,
        max_concurrency=max_concurrency,
        schema_style=schema_style,
        system_prompt=system_prompt,
        response_format=response_format,
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
        cache_path=cache_path,
    )
