"""Any OpenAI-compatible `/v1/chat/completions` endpoint (vLLM, llama.cpp server, Ollama, OpenAI)."""
import os
import random
import time
from typing import Any, Dict, List, Optional
from urllib.parse import urlparse

from spacy_llm.registry import registry

from .base import DEFAULT_SYSTEM_PROMPT, ChatModel, fold_answer_start


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
            "messages": fold_answer_start(messages),  # continuing an answer is not in the OpenAI API
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


# A forwarding factory, as spacy-llm's own: its signature is the registered config (names, defaults,
# docs), the class does the work; the shared settings repeat in each backend's factory by design.
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
