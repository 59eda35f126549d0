"""LLM labeling speed, settings side by side in one run on the same gold dev sentences:
one sentence per prompt answered one at a time with the KV cache of
the shared prompt prefix kept, the same without prefix reuse, several sentences per prompt, and
one sentence per prompt with N prompts answered together (`n_parallel`), and that with earlier
labeling tasks (`--earlier TASK@STOP_BIAS`: each with its own prompt template, the label names as
answers and the stop bias tuned for it; several sentences per prompt, whose template extends
label.v1, decode with `--earlier-stop-bias`). Seconds per sentence,
the ratio to one at a time with prefix reuse (the earlier default) and F1 on the sentences each setting labelled.

    python benchmarks/llm_speed.py assets/gold/dev.jsonl --several 5 --no-reuse-sentences 10 --parallel 8 --parallel 32
For the default setting it also shows where the time goes: tokens evaluated and llama.cpp calls
per sentence, and the prompt speed of this machine now (so tokens / speed is the floor on 2 cores).
Writes benchmarks/results/llm_speed.json. Dev only: never used on test. With an endpoint config
(components/ad_signs/configs/llm_endpoint.cfg) only the default setting runs: the others are the local decoder's.
"""
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List

import srsly
import typer
from spacy.util import load_config
from wasabi import msg

from ad_signs.llm.batch_runner import chat_model, load_llm
from ad_signs.llm_timing import WARM_UP, label_rows, label_together, prompt_template
from ad_signs.metrics import score_label_sets

MANY_TEMPLATE = Path(__file__).parent / "prompts/label_many.jinja"  # several sentences per prompt


def configured(config: Path) -> int:
    """The config's own n_parallel."""
    return int(load_config(config)["components"]["llm"]["model"].get("n_parallel", 1))


class EvalCounter:
    """Counts the tokens and calls of llama.cpp evaluations (`Llama.eval`) and times them."""

    def __init__(self, llm):
        self.llm, self.tokens, self.calls, self.seconds = llm, 0, 0, 0.0

    def __enter__(self) -> "EvalCounter":
        original = type(self.llm).eval

        def counted(tokens):
            started = time.perf_counter()
            original(self.llm, tokens)
            self.seconds += time.perf_counter() - started
            self.tokens, self.calls = self.tokens + len(tokens), self.calls + 1

        self.llm.eval = counted  # shadows the method on this instance only
        return self

    def __exit__(self, *exc) -> None:
        del self.llm.eval


def eval_rates(llm, text: str, n: int = 64) -> Dict[str, float]:
    """Prompt speed on this machine now: `n` tokens of `text` evaluated in one call, and one token
    alone, after the current context (which is kept)."""
    keep = llm.n_tokens
    tokens = llm.tokenize(text.encode("utf8"), add_bos=False)[:n]
    timings = []
    for probe in (tokens, tokens[:1]):
        started = time.perf_counter()
        llm.eval(probe)
        timings.append(time.perf_counter() - started)
        llm.n_tokens = keep
    return {"prompt_tokens_per_s": len(tokens) / timings[0], "one_token_eval_s": timings[1]}


def run_result(rows, predicted, seconds, rejects, per_prompt, reuse, labels) -> dict:
    scores = score_label_sets([set(r["labels"]) for r in rows], predicted, labels)
    return {"sentences": len(rows), "sentences_per_prompt": per_prompt, "prefix_reuse": reuse,
            "rejects": rejects, "seconds": sum(seconds),
            "seconds_per_sentence": sum(seconds) / len(rows),
            "seconds_per_sentence_median": statistics.median(seconds),
            "micro_f": scores["micro_f"], "macro_f": scores["macro_f"], "binary_f": scores["binary"]["f"]}


def main(
    gold: Path = typer.Argument(Path("assets/gold/dev.jsonl")),
    config: Path = typer.Option(Path("components/ad_signs/configs/llm_label.cfg")),
    limit: int = typer.Option(0, help="First N sentences only (0: all)"),
    several: List[int] = typer.Option([5, 10], help="Sentences per prompt to compare with one"),
    parallel: List[int] = typer.Option([8, 32], help="Prompts answered together (n_parallel) to compare"),
    no_reuse_sentences: int = typer.Option(10, help="Sentences for the run without prefix reuse (slow)"),
    earlier: List[str] = typer.Option(["ad_signs.LabelSentences.v1@1"], "--earlier",
                                      help="Earlier labeling tasks as TASK@STOP_BIAS (their own template, label names as "
                                      "answers), run at the config's n_parallel"),
    earlier_stop_bias: float = typer.Option(1.0, help="Choice decoding's stop bias for several sentences per prompt "
                                            "(label_many.jinja extends label.v1)"),
    out: Path = typer.Option(Path("benchmarks/results/llm_speed.json")),
):
    rows = list(srsly.read_jsonl(gold))[: limit or None]
    nlp = load_llm(config, {"components.llm.model.cache_path": None, "components.llm.model.n_parallel": 1})
    model, labels = chat_model(nlp), nlp.get_pipe("llm").task.labels
    identity = model.identity
    nlp(nlp.make_doc(WARM_UP))
    settings = [("1 per prompt, prefix reuse", rows, 1, True),
                ("1 per prompt, no prefix reuse", rows[:no_reuse_sentences], 1, False)]
    settings += [(f"{n} per prompt, prefix reuse", rows, n, True) for n in several]
    decoder = getattr(model, "choice_decoder", None)
    if decoder is None:  # an endpoint: prefix reuse and several per prompt are settings of the local decoder
        settings = settings[:1]
    runs, many, profile = {}, prompt_template(MANY_TEMPLATE), None
    default_bias = decoder.stop_bias if decoder is not None else None
    for name, subset, per_prompt, reuse in settings:
        if decoder is not None:
            decoder.reuse_prefix = reuse
            decoder.stop_bias = earlier_stop_bias if per_prompt > 1 else default_bias
        if decoder is not None and name == settings[0][0]:  # the default: where its time goes
            with EvalCounter(decoder.llm) as counter:
                predicted, seconds, rejects = label_rows(nlp, subset, per_prompt, many)
            rates = eval_rates(decoder.llm, " ".join(r["text"] for r in rows))
            profile = {"tokens_per_sentence": counter.tokens / len(subset), "evals_per_sentence": counter.calls / len(subset),
                       "eval_seconds_per_sentence": counter.seconds / len(subset), **rates,
                       "floor_seconds_per_sentence": counter.tokens / len(subset) / rates["prompt_tokens_per_s"]}
            msg.info(f"{profile['tokens_per_sentence']:.1f} tokens evaluated a sentence in {profile['evals_per_sentence']:.1f} "
                     f"calls; prompt speed {rates['prompt_tokens_per_s']:.0f} tokens/s, one token {rates['one_token_eval_s'] * 1000:.0f} ms")
        else:
            predicted, seconds, rejects = label_rows(nlp, subset, per_prompt, many)
        runs[name] = {**run_result(subset, predicted, seconds, rejects, per_prompt, reuse, labels),
                      "stop_bias": decoder.stop_bias if decoder is not None else None}
        msg.info(f"{name}: {runs[name]['seconds_per_sentence']:.2f} s/sentence, macro F1 {runs[name]['macro_f']:.2f}")
    if decoder is not None:
        decoder.reuse_prefix, decoder.stop_bias = True, default_bias
        del nlp, model, decoder  # one copy of the model's context at a time
        for n in sorted(set(parallel) | {configured(config)} - {1}):
            together = load_llm(config, {"components.llm.model.cache_path": None, "components.llm.model.n_parallel": n})
            predicted, per_sentence, rejects = label_together(together, rows, n)
            runs[f"1 per prompt, {n} in parallel"] = run_result(rows, predicted, [per_sentence] * len(rows), rejects, 1, True, labels)
            runs[f"1 per prompt, {n} in parallel"].update(n_parallel=n, stop_bias=default_bias)
            msg.info(f"{n} in parallel: {per_sentence:.2f} s/sentence")
            del together
        n = configured(config)
        for spec in earlier:
            task, _, bias = spec.partition("@")
            before = load_llm(config, {"components.llm.model.cache_path": None, "components.llm.model.n_parallel": n,
                                       "components.llm.task.@llm_tasks": task, "components.llm.model.stop_bias": float(bias),
                                       "components.llm.model.response_format.@llm_misc": "ad_signs.LabelAnswerSchema.v1"})
            predicted, per_sentence, rejects = label_together(before, rows, n)
            name = f"1 per prompt, {n} in parallel, {task.removeprefix('ad_signs.')}, stop_bias {float(bias):g}"
            runs[name] = {**run_result(rows, predicted, [per_sentence] * len(rows), rejects, 1, True, labels),
                          "n_parallel": n, "task": task, "stop_bias": float(bias)}
            msg.info(f"{name}: {per_sentence:.2f} s/sentence")
            del before
    default = runs["1 per prompt, prefix reuse"]["seconds_per_sentence"]
    for run in runs.values():
        run["time_vs_default"] = run["seconds_per_sentence"] / default
    n = configured(config)
    result = {"measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "gold": str(gold), "model": identity.get("model"), "decoding": identity.get("decoding"),
              "config_setting": f"1 per prompt, {n} in parallel" if n > 1 else "1 per prompt, prefix reuse",
              "runs": runs, "default_profile": profile}
    out.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(out, result)
    msg.table([(name, r["sentences"], f"{r['seconds_per_sentence']:.2f}", f"{r['time_vs_default']:.2f}",
                r["rejects"], f"{r['micro_f']:.2f}", f"{r['macro_f']:.2f}", f"{r['binary_f']:.2f}")
               for name, r in runs.items()],
              header=("setting", "sentences", "s/sentence", "x default", "rejects", "micro F1", "macro F1", "binary F1"),
              divider=True)
    msg.good(f"-> {out}")


if __name__ == "__main__":
    typer.run(main)
