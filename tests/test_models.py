"""Model plumbing without a real LLM: answer cache, resumability, retries, failures."""
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ad_signs.llm.models import ChatModel, FailedAnswer, OpenAICompatibleModel

SETTINGS = dict(system_prompt="sys", response_format=None, temperature=0.0, max_tokens=8, seed=0)


class CountingModel(ChatModel):
    """Test double: answers 'answer to <prompt>' and counts how often it was really asked."""

    def __init__(self, fail_on=(), **kw):
        super().__init__(**{**SETTINGS, **kw})
        self.calls = 0
        self.fail_on = set(fail_on)

    def complete(self, messages, seed):
        self.calls += 1
        prompt = messages[-1]["content"]
        if prompt in self.fail_on:
            raise ConnectionError("refused")
        return f"answer to {prompt} (seed {seed})"


def test_cache_resumes_without_asking_again(tmp_path):
    first = CountingModel(cache_path=str(tmp_path / "c.sqlite"))
    answers = [list(a) for a in first([["p1"], ["p2"], ["p1"]])]
    assert first.calls == 3 and answers[0] != answers[2]  # a repeated prompt is a new sample
    again = CountingModel(cache_path=str(tmp_path / "c.sqlite"))
    assert [list(a) for a in again([["p1"], ["p2"], ["p1"]])] == answers and again.calls == 0
    assert again.stats["cached"] == 3


def test_cache_key_includes_decoding_settings(tmp_path):
    CountingModel(cache_path=str(tmp_path / "c.sqlite")).answer("p")
    hotter = CountingModel(cache_path=str(tmp_path / "c.sqlite"), temperature=0.7)
    hotter.answer("p")
    assert hotter.calls == 1


def test_failures_are_reported_not_cached(tmp_path):
    model = CountingModel(fail_on={"bad"}, cache_path=str(tmp_path / "c.sqlite"))
    out = [list(a) for a in model([["ok"], ["bad"]])]
    assert isinstance(out[1][0], FailedAnswer) and "refused" in out[1][0]
    assert model.stats["failed"] == 1 and isinstance(out[0][0], str) and not isinstance(out[0][0], FailedAnswer)
    retry = CountingModel(cache_path=str(tmp_path / "c.sqlite"))
    retry([["ok"], ["bad"]]).__next__()
    list(retry([["bad"]]))
    assert retry.calls == 1  # only the failed prompt is asked again


class FlakyHandler(BaseHTTPRequestHandler):
    """Loopback stub of /v1/chat/completions: 503 on the first request for each prompt, then an echo."""

    seen = set()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        if prompt not in self.seen:
            self.seen.add(prompt)
            self.send_response(503)
            self.end_headers()
            return
        payload = json.dumps({"choices": [{"message": {"content": f"echo {prompt}"}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky_server():
    server = HTTPServer(("127.0.0.1", 0), FlakyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def endpoint(base_url, **kw):
    return OpenAICompatibleModel(
        base_url=base_url, model="m", api_key_env=None, timeout=5, max_retries=kw.pop("max_retries", 2),
        backoff=0.01, max_concurrency=kw.pop("max_concurrency", 4), schema_style="json_schema", cache_path=None,
        **{**SETTINGS, **kw},
    )


def test_endpoint_retries_5xx_and_keeps_answers_matched_under_concurrency(flaky_server):
    model = endpoint(flaky_server)
    prompts = [[f"prompt {i}"] for i in range(12)]
    answers = [list(a) for a in model(prompts)]
    assert answers == [[f"echo prompt {i}"] for i in range(12)]
    assert model.stats["retried"] == 12 and model.stats["asked"] == 12


def test_endpoint_gives_up_with_a_reported_failure():
    model = endpoint("http://127.0.0.1:9/v1", max_retries=1)  # nothing listens on the discard port
    [[answer]] = [list(a) for a in model([["p"]])]
    assert isinstance(answer, FailedAnswer) and "failed after 2 attempts" in answer
    assert model.stats["failed"] == 1 and model.stats["retried"] == 1


def test_endpoint_request_body_carries_schema():
    schema = {"type": "object"}
    body = endpoint("http://127.0.0.1:9/v1", response_format=schema).request_body([{"role": "user", "content": "x"}], 1)
    assert body["response_format"]["json_schema"]["schema"] == schema and body["seed"] == 1


def test_forgotten_answers_are_asked_again(tmp_path):
    model = CountingModel(cache_path=str(tmp_path / "c.sqlite"))
    kept, dropped = model.answer("p1"), model.answer("p2")
    assert model.forget(dropped) and not model.forget("an answer it never gave") and model.stats["forgotten"] == 1
    again = CountingModel(cache_path=str(tmp_path / "c.sqlite"))
    assert again.answer("p1") == kept and again.answer("p2") == dropped and again.calls == 1  # only p2 asked again


class SameAnswerModel(CountingModel):
    """Test double: gives every prompt the same unparsable answer, as a chatty model often does."""

    def complete(self, messages, seed):
        self.calls += 1
        return "BAD"


def test_the_same_bad_answer_to_several_prompts_is_forgotten_for_each(tmp_path):
    model = SameAnswerModel(cache_path=str(tmp_path / "c.sqlite"))
    assert [model.answer(p) for p in ("p1", "p2", "p3")] == ["BAD"] * 3
    assert model.forget("BAD") and model.forget("BAD") and model.stats["forgotten"] == 2
    again = SameAnswerModel(cache_path=str(tmp_path / "c.sqlite"))
    for p in ("p1", "p2", "p3"):
        again.answer(p)
    assert again.calls == 2 and again.stats["cached"] == 1  # the two forgotten asked again, the third replayed
    assert again.forget("BAD") and again.forget("BAD") and again.forget("BAD") and not again.forget("BAD")


class TogetherModel(CountingModel):
    """Test double of a backend that answers several prompts in one call (llama.cpp `n_parallel`)."""

    n_parallel = 3

    def __init__(self, fail_group=False, **kw):
        super().__init__(**kw)
        self.groups, self.fail_group = [], fail_group

    def complete_together(self, conversations, seeds):
        self.groups.append(len(conversations))
        if self.fail_group:
            raise RuntimeError("llama_decode failed")
        return [self.complete(messages, seed) for messages, seed in zip(conversations, seeds)]


def test_prompts_are_answered_together_with_the_seeds_and_cache_of_one_at_a_time(tmp_path):
    together = TogetherModel(cache_path=str(tmp_path / "c.sqlite"))
    answers = [list(a) for a in together([["p1"], ["p2"], ["p1"], ["p3"], ["p4"]])]
    alone = CountingModel(cache_path=None)
    assert answers == [list(a) for a in alone([["p1"], ["p2"], ["p1"], ["p3"], ["p4"]])]  # same seeds, same order
    assert together.groups == [3, 2]
    again = TogetherModel(cache_path=str(tmp_path / "c.sqlite"))
    assert [list(a) for a in again([["p1"], ["p2"], ["p1"], ["p3"], ["p4"], ["p5"]])][:5] == answers
    assert again.groups == [1] and again.stats["cached"] == 5  # only the new prompt is asked


def test_a_failed_group_is_a_failure_for_each_of_its_prompts(tmp_path):
    model = TogetherModel(fail_group=True, cache_path=str(tmp_path / "c.sqlite"))
    out = [a[0] for a in model([["a"], ["b"]])]
    assert all(isinstance(a, FailedAnswer) and "llama_decode" in a for a in out)
    assert model.stats["failed"] == 2 and len(out) == 2
