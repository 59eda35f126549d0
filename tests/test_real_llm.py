"""End to end on the real default local model (Qwen2.5-Coder-1.5B-Instruct via llama.cpp).

These check the plumbing on a real LLM (DocBins, cats, constrained answers, the endpoint
model against a real llama.cpp server on loopback), not the model's accuracy: that is
measured by benchmarks/llm_labeling.py.
"""
import json
import socket
import subprocess
import sys
import time

import pytest
import requests
import spacy
import srsly
from spacy.tokens import DocBin

from ad_signs.llm.batch_runner import label_docs, load_llm
from ad_signs.llm.weights import resolve_model_path
from ad_signs.taxonomy import load_taxonomy
from conftest import ROOT, write_jsonl

pytestmark = pytest.mark.slow
LABELS = load_taxonomy().labels
SENTENCES = [
    "Daughter reports he keeps getting lost driving to the store.",
    "Continue donepezil 10 mg qhs.",
    "BP 128/76, HR 70, afebrile.",
]


def run_cli(*args, cwd=ROOT):
    result = subprocess.run([sys.executable, "-m", "ad_signs", *map(str, args)], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def read_docbin(path):
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def test_label_three_sentences(tmp_path):
    notes = write_jsonl(tmp_path / "sentences.jsonl", [{"text": t} for t in SENTENCES])
    out = run_cli("label", notes, tmp_path / "silver.spacy", "--unit", "sentence")
    docs = read_docbin(tmp_path / "silver.spacy")
    summary = srsly.read_json(tmp_path / "silver.summary.json")
    # Grammar-constrained decoding: every answer is a valid label set, so nothing is rejected.
    assert summary["items"] == 3 and summary["docs"] == 3 and summary["rejects"] == 0
    assert summary["llm_calls"]["asked"] == 3 and "seconds per item" in out
    assert summary["settings"]["model"] == "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" and summary["settings"]["unit"] == "sentence"
    assert summary["settings"]["task"] == "ad_signs.LabelSentences.v2"
    assert len(summary["settings"]["model_sha256"]) == 64 and "in parallel" in summary["settings"]["decoding"]
    assert [d.text for d in docs] == SENTENCES
    for doc in docs:
        assert set(doc.cats) == set(LABELS) and set(doc.cats.values()) <= {0.0, 1.0}
        assert doc.user_data["source"]["sentence"] == 0
    # The same run again is answered from the cache: nothing is asked twice.
    run_cli("label", notes, tmp_path / "silver.spacy", "--unit", "sentence")
    again = srsly.read_json(tmp_path / "silver.summary.json")
    assert again["llm_calls"] == {"cached": 3} and [d.cats for d in read_docbin(tmp_path / "silver.spacy")] == [d.cats for d in docs]


def test_killed_run_resumes_without_asking_again_and_gives_the_same_docbin(tmp_path):
    notes = ROOT / "assets/notes/sample_notes.jsonl"
    # One sentence at a time, so that the kill lands between answers (the config's 32 together
    # would answer all 16 in one batch).
    one_at_a_time = ["--components.llm.model.n_parallel", 1]
    args = ["label", notes, tmp_path / "run.spacy", "--limit", 16, *one_at_a_time]
    killed = subprocess.Popen([sys.executable, "-m", "ad_signs", *map(str, args)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache = tmp_path / "run.cache.sqlite"

    def answered():
        if not cache.exists():
            return 0
        import sqlite3

        with sqlite3.connect(cache) as db:
            return db.execute("SELECT count(*) FROM answers").fetchone()[0]

    deadline = time.time() + 300
    while answered() < 5 and time.time() < deadline and killed.poll() is None:
        time.sleep(0.2)
    killed.kill()  # SIGKILL: no clean-up code runs
    killed.wait()
    done_before = answered()
    assert 5 <= done_before < 16 and not (tmp_path / "run.spacy").exists()

    run_cli(*args)
    resumed = srsly.read_json(tmp_path / "run.summary.json")
    assert resumed["llm_calls"] == {"cached": done_before, "asked": 16 - done_before}
    run_cli("label", notes, tmp_path / "fresh.spacy", "--limit", 16, *one_at_a_time)  # a run never interrupted
    assert [(d.text, d.cats) for d in read_docbin(tmp_path / "run.spacy")] == [
        (d.text, d.cats) for d in read_docbin(tmp_path / "fresh.spacy")]


def test_generate_three_sentences(tmp_path):
    run_cli(
        "generate", tmp_path / "bronze.spacy", "--labels", "COGNITIVE_IMPAIRMENT", "--per-label", 3,
        "--negatives-per-label", 0, "--vars.per_prompt", 3,
    )
    docs = read_docbin(tmp_path / "bronze.spacy")
    assert len(docs) == 3, (tmp_path / "bronze.rejects.jsonl").read_text()
    assert len({d.text for d in docs}) == 3 and all(len(d) >= 3 for d in docs)
    for doc in docs:
        assert doc.cats == load_taxonomy().cats(["COGNITIVE_IMPAIRMENT"])
        assert doc.user_data["source"]["polarity"] == "positive"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server():
    """A real llama-cpp-python server with the default model, on loopback only."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(resolve_model_path()),
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--model_alias", "qwen-local"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(120):
            try:
                if requests.get(base + "/models", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        else:
            pytest.fail("llama_cpp.server did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_openai_compatible_model_against_a_real_llama_server(llama_server, tmp_path):
    model = {
        "@llm_models": "ad_signs.OpenAICompatible.v1", "base_url": llama_server, "model": "qwen-local",
        "api_key_env": None, "schema_style": "json_object", "max_concurrency": 1, "max_tokens": 64,
        "cache_path": None, "response_format": {"@llm_misc": "ad_signs.LabelAnswerSchema.v1"},
    }
    nlp = load_llm(ROOT / "components/ad_signs/configs/llm_label.cfg", {"components.llm.model": model,
                                                    "paths.examples": str(ROOT / "components/ad_signs/fewshot/label_examples.jsonl")})
    docs, summary = label_docs(nlp, (nlp.make_doc(t) for t in SENTENCES[:2]), tmp_path / "rejects.jsonl")
    # schema-constrained: always parses; on a loaded machine a request may time out (60 s) and is retried, counted
    assert summary.llm["asked"] == 2 and set(summary.llm) <= {"asked", "retried"} and summary.rejects == 0
    assert all(set(d.cats) == set(LABELS) for d in docs)


def test_choice_decoding_gives_valid_label_sets_like_grammar_decoding():
    """The fast label decoder and grammar-constrained sampling, side by side on one model (the v1
    prompt, whose answer is the model's whole turn; stop_bias 0: no bias either way)."""

    nlp = load_llm(ROOT / "components/ad_signs/configs/llm_label.cfg", {
        "components.llm.model.cache_path": None, "components.llm.model.stop_bias": 0.0, "components.llm.task.template": "label.v1.jinja"})
    model = nlp.get_pipe("llm")._model
    task = nlp.get_pipe("llm").task
    assert model.choice_decoder is not None and model.identity["decoding"].startswith("choice")
    for text in ["Continue donepezil 10 mg qhs.", "BP 128/76, HR 70, afebrile."]:
        messages = model._messages(task.render(text))
        fast = task.read_answer(model.choice_decoder(messages))[0]
        slow = model.llm.create_chat_completion(messages=messages, grammar=model.grammar, temperature=0, max_tokens=64)
        assert fast == task.read_answer(slow["choices"][0]["message"]["content"])[0]  # both in the task's answer names


def test_choice_decoding_continues_the_answer_that_a_v2_prompt_starts():
    """label.v2 starts the model's answer with the sentence; choice decoding continues it as greedy
    grammar-constrained sampling does after the same tokens (stop_bias 0: no bias either way), in
    the names the config's task answers with."""
    from llama_cpp import LlamaGrammar

    from ad_signs.llm.batch_runner import chat_model

    nlp = load_llm(ROOT / "components/ad_signs/configs/llm_label.cfg", {
        "components.llm.model.cache_path": None, "components.llm.model.stop_bias": 0.0, "components.llm.model.n_parallel": 1})
    model, task = chat_model(nlp), nlp.get_pipe("llm").task
    items = " | ".join(json.dumps(json.dumps(name)) for name in task.names.values())  # GBNF literals of "name"
    grammar = LlamaGrammar.from_string(f'root ::= " []}}" | " [" item (", " item)* "]}}"\nitem ::= {items}', verbose=False)
    for text in ["Daughter says he repeats questions and got lost driving.", "BP 128/76, HR 70, afebrile."]:
        messages = model._messages(task.render(text))
        assert messages[-1] == {"role": "assistant", "content": f'{{"sentence": {json.dumps(text)}, "labels":'}
        fast = json.loads(model.choice_decoder(messages))["labels"]
        tokens = model.choice_decoder.prompt_tokens(messages)
        model.llm.reset()
        slow = model.llm.create_completion(tokens, grammar=grammar, temperature=0, max_tokens=64)["choices"][0]["text"]
        assert sorted(fast) == sorted(json.loads('{"labels":' + slow)["labels"])


def test_answers_sampled_together_are_the_answers_sampled_one_at_a_time():
    """n_parallel: several sequences in one llama.cpp batch, each under the JSON grammar with its
    own prompt: at temperature 0 each gets the answer it gets alone (no answer leaks into another),
    and the cache key says how they were decoded."""
    config = ROOT / "components/ad_signs/configs/llm_generate.cfg"
    settings = {"components.llm.model.cache_path": None, "components.llm.model.temperature": 0, "components.llm.model.max_tokens": 60,
                "components.llm.task.per_prompt": 1, "components.llm.model.response_format.n": 1}
    words = ["donepezil", "memory", "walker"]
    prompts = [[f'Write one short clinical sentence that contains the word "{w}". Answer with JSON {{"sentences": ["..."]}}.'] for w in words]
    alone = load_llm(config, {**settings, "components.llm.model.n_parallel": 1})
    one_at_a_time = [a[0] for a in alone.get_pipe("llm")._model(prompts)]
    del alone
    model = load_llm(config, {**settings, "components.llm.model.n_parallel": 3}).get_pipe("llm")._model
    assert model.identity["decoding"] == "grammar, 3 in parallel"
    answers = [a[0] for a in model(prompts)]
    assert model.stats["asked"] == 3 and answers == one_at_a_time
    assert all(len(json.loads(a)["sentences"]) == 1 for a in answers)


def test_label_sets_decoded_together_are_the_label_sets_decoded_one_at_a_time():
    """Choice decoding of several sentences in one llama.cpp batch (their few-shot prefix evaluated
    once) walks the same greedy choices as one sentence at a time."""
    config = ROOT / "components/ad_signs/configs/llm_label.cfg"
    texts = SENTENCES + ["Wife says he forgets names and has become withdrawn.", "MoCA 21/30; MRI with hippocampal atrophy."]
    alone = load_llm(config, {"components.llm.model.cache_path": None, "components.llm.model.n_parallel": 1})
    docs_alone = list(alone.pipe(texts, batch_size=1))
    one_at_a_time = [doc.cats for doc in docs_alone]
    del alone
    together = load_llm(config, {"components.llm.model.cache_path": None, "components.llm.model.n_parallel": 5})
    model = together.get_pipe("llm")._model
    list(together.pipe(texts[:2], batch_size=2))  # a short first call (a warm-up) sizes the context for 5
    context = model._parallel.ctx
    docs_together = list(together.pipe(texts, batch_size=5))
    assert model._parallel.ctx == context, "the context was made again: the shared prefix evaluated again"
    assert [doc.cats for doc in docs_together] == one_at_a_time
    # Each label's probability is read from the logits either way; batched kernels move a Q4 model's
    # logits a little, so the probabilities agree to a few hundredths (measured: up to 0.06), not exactly.
    for a, b in zip(docs_alone, docs_together):
        confidence = a.user_data["llm_confidence"]
        assert all(confidence[label] > 0 for label, on in a.cats.items() if on)
        assert all(abs(confidence[label] - b.user_data["llm_confidence"][label]) < 0.1 for label in LABELS)
    assert model.stats["asked"] == 7 and model.identity["decoding"] == "choice.v2(stop_bias=2.0), 5 in parallel"


def test_choice_decoding_answers_several_sentences_in_one_prompt():
    """`n_answers`: one valid label set per line, as many lines as sentences (benchmarks/llm_labeling.py)."""
    nlp = load_llm(ROOT / "components/ad_signs/configs/llm_label.cfg", {"components.llm.model.cache_path": None,
                                                     "components.llm.task.examples": None})
    model = nlp.get_pipe("llm")._model
    prompt = "Label each sentence.\n" + "\n".join(f"{i}. {t}" for i, t in enumerate(SENTENCES, 1))
    answer = model.choice_decoder([{"role": "user", "content": prompt}], n_answers=len(SENTENCES))
    lines = answer.split("\n")
    assert len(lines) == len(SENTENCES)
    task = nlp.get_pipe("llm").task
    assert all(set(task.read_answer(line)[0]) <= set(LABELS) for line in lines)  # in the task's answer names, read back


def test_label_runs_from_any_folder_with_the_librarys_own_config(tmp_path):
    """The default configs, few-shot examples and taxonomy ship inside the library: `label` works
    outside the checkout; a config that is not there is one clear line, before the model loads."""
    write_jsonl(tmp_path / "notes.jsonl", [{"note_id": "n1", "text": SENTENCES[0]}])

    def run(*args):
        return subprocess.run([sys.executable, "-m", "ad_signs", "label", "notes.jsonl", "out.spacy", *args],
                              cwd=tmp_path, capture_output=True, text=True)

    done = run("--limit", "1")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (doc,) = DocBin().from_disk(tmp_path / "out.spacy").get_docs(spacy.blank("en").vocab)
    assert doc.text == SENTENCES[0] and set(doc.cats) == set(LABELS)
    missing = run("--config", "nope.cfg")
    assert missing.returncode == 1 and "Config not found: nope.cfg" in missing.stdout and "Traceback" not in missing.stderr


@pytest.mark.parametrize("n_parallel", [1, 3])
def test_the_next_run_loads_the_prompt_prefix_instead_of_evaluating_it(tmp_path, monkeypatch, n_parallel):
    """The labeling prompt's shared prefix (instructions, few-shot examples) is evaluated once and
    its KV state stored; a new model (the next weasel step) loads it: the same label sets, without
    evaluating the ~1,100 prefix tokens again. One at a time and answered together, and each loads
    what the other stored (both contexts lay out the KV cache the same way)."""
    import llama_cpp

    from ad_signs.llm import batched, weights

    monkeypatch.setattr(weights, "cache_dir", lambda: tmp_path)
    evaluated = []
    decode, llama_eval = batched.ParallelContext._decode, llama_cpp.Llama.eval
    monkeypatch.setattr(batched.ParallelContext, "_decode", lambda self, items: evaluated.append(len(items)) or decode(self, items))
    monkeypatch.setattr(llama_cpp.Llama, "eval", lambda self, tokens: evaluated.append(len(tokens)) or llama_eval(self, tokens))
    config = ROOT / "components/ad_signs/configs/llm_label.cfg"
    runs = []
    for parallel in (n_parallel, n_parallel, 4 - n_parallel):  # then the other kind: 3 or 1
        evaluated.clear()
        nlp = load_llm(config, {"components.llm.model.cache_path": None, "components.llm.model.n_parallel": parallel})
        runs.append(([doc.cats for doc in nlp.pipe(SENTENCES, batch_size=3)], sum(evaluated)))
        del nlp
    (first, evaluated_first), (second, evaluated_second), (_, evaluated_other_kind) = runs
    assert len(list((tmp_path / "prefix_states").glob("*.kv"))) == 1
    assert second == first and evaluated_first - evaluated_second > 1000
    assert evaluated_first - evaluated_other_kind > 1000


def test_a_prompt_of_another_family_after_a_stored_prefix_gets_its_own_answer(tmp_path, monkeypatch):
    """A prompt that shares only a few tokens with the one before (another template) is evaluated
    on an emptied cache when no stored prefix fits: the answer of a fresh context, not one read
    with its first tokens missing."""
    from ad_signs.llm import weights
    from ad_signs.llm.batch_runner import chat_model

    monkeypatch.setattr(weights, "cache_dir", lambda: tmp_path)
    nlp = load_llm(ROOT / "components/ad_signs/configs/llm_label.cfg", {"components.llm.model.cache_path": None,
                                                                         "components.llm.model.n_parallel": 1})
    model = chat_model(nlp)
    decoder = model.choice_decoder
    list(nlp.pipe(SENTENCES))  # the labeling prefix, stored
    other = model._messages('Sentence: "Wife says he forgets names." Which categories? Answer {"labels": [...]}.')
    after_stored = decoder(other)
    decoder.llm.n_tokens = 0  # a fresh context: everything evaluated
    assert decoder(other) == after_stored
