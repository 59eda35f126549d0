"""The shared part of the chat models: spacy-llm's nested prompt protocol, the answer cache,
per-prompt seeds, run statistics. A backend (`llama_cpp.py`, `openai_compatible.py`) sends the
chat turns (`complete`) and names its model (`model_identity`).

A prompt whose request fails after retries yields a `FailedAnswer`, which the tasks' strict
parsers count and set aside as a reject; failures are never cached, and an answer the task cannot
parse is dropped from the cache (`forget`), so a re-run asks again.
"""
import ipaddress
import logging
import threading
from collections import Counter, OrderedDict
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ..answer_cache import AnswerCache, answer_key
from ..parsing import FailedAnswer

logger = logging.getLogger("ad_signs")

DEFAULT_SYSTEM_PROMPT = "You are a careful clinical annotator. Answer only in the requested JSON format."
# A prompt may hold the start of the model's answer after this marker (label.v2.jinja puts the
# sentence there): the chat turn's markers then come before the sentence, in the prompt prefix
# that all sentences share, and fewer tokens follow it. A backend that cannot continue an answer
# gets that start as the last lines of the user's turn (`fold_answer_start`).
ANSWER_START = "<|answer_start|>"


def is_off_machine(host: str) -> bool:
    """Whether prompts sent to `host` leave this machine (anything but loopback)."""
    if not host or host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost
        return True


def fold_answer_start(messages: List[Dict[str, str]]) -> List[Dict[str, str]]:
    """`messages` for a backend that cannot continue an answer: its start ends the user's turn."""
    if messages[-1]["role"] != "assistant":
        return messages
    *before, request, start = messages
    return [*before, {**request, "content": f"{request['content']}\n\n{start['content']}"}]


RECENT_ANSWERS = 4096  # answers whose cache keys are kept for `forget`: many batches' worth


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
        """The chat turns of `prompt`: system, user and, after `ANSWER_START`, the answer's start."""
        request, marker, start = prompt.partition(ANSWER_START)
        messages = [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": request}]
        return messages + [{"role": "assistant", "content": start}] if marker else messages

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
