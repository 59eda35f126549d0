"""LLM labeling speed, settings side by side in one run on the same gold dev sentences:
one sentence per prompt with the KV cache of the shared prompt prefix kept (the default),
the same without prefix reuse, and several sentences per prompt. Seconds per sentence, the
ratio to the default and F1 on the sentences each setting labelled.

    python benchmarks/llm_speed.py assets/gold/dev.jsonl --several 5 --several 10 --no-reuse-sentences 10
Writes benchmarks/results/llm_speed.json. Dev only: never used on test. With an endpoint config
(components/ad_signs/configs/llm_endpoint.cfg) only the default setting runs: the others are the local decoder's.
"""
import statistics
from pathlib import Path
from typing import List

import srsly
import typer
from wasabi import msg

from ad_signs.llm.run import chat_model, load_llm
from ad_signs.metrics import score_label_sets
from llm_labeling import label_rows


def main(
    gold: Path = typer.Argument(Path("assets/gold/dev.jsonl")),
    config: Path = typer.Option(Path("components/ad_signs/configs/llm_label.cfg")),
    limit: int = typer.Option(0, help="First N sentences only (0: all)"),
    several: List[int] = typer.Option([5, 10], help="Sentences per prompt to compare with one"),
    no_reuse_sentences: int = typer.Option(10, help="Sentences for the run without prefix reuse (slow)"),
    out: Path = typer.Option(Path("benchmarks/results/llm_speed.json")),
):
    rows = list(srsly.read_jsonl(gold))[: limit or None]
    nlp = load_llm(config, {"components.llm.model.cache_path": None})
    model, labels = chat_model(nlp), nlp.get_pipe("llm").task.labels
    nlp(nlp.make_doc("Warm-up: the shared prompt prefix is evaluated once."))
    settings = [("1 per prompt, prefix reuse", rows, 1, True),
                ("1 per prompt, no prefix reuse", rows[:no_reuse_sentences], 1, False)]
    settings += [(f"{n} per prompt, prefix reuse", rows, n, True) for n in several]
    decoder = getattr(model, "choice_decoder", None)
    if decoder is None:  # an endpoint: prefix reuse and several per prompt are settings of the local decoder
        settings = settings[:1]
    runs = {}
    for name, subset, per_prompt, reuse in settings:
        if decoder is not None:
            decoder.reuse_prefix = reuse
        predicted, seconds, rejects = label_rows(nlp, subset, per_prompt)
        scores = score_label_sets([set(r["labels"]) for r in subset], predicted, labels)
        runs[name] = {"sentences": len(subset), "sentences_per_prompt": per_prompt, "prefix_reuse": reuse,
                      "rejects": rejects, "seconds": sum(seconds),
                      "seconds_per_sentence": sum(seconds) / len(subset),
                      "seconds_per_sentence_median": statistics.median(seconds),
                      "micro_f": scores["micro_f"], "macro_f": scores["macro_f"], "binary_f": scores["binary"]["f"]}
        msg.info(f"{name}: {runs[name]['seconds_per_sentence']:.2f} s/sentence, macro F1 {scores['macro_f']:.2f}")
    if decoder is not None:
        decoder.reuse_prefix = True
    default = runs["1 per prompt, prefix reuse"]["seconds_per_sentence"]
    for run in runs.values():
        run["time_vs_default"] = run["seconds_per_sentence"] / default
    result = {"gold": str(gold), "model": model.identity.get("model"), "decoding": model.identity.get("decoding"),
              "runs": runs}
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
