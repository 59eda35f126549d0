"""Label-to-data speed and how note-like the sentences are, side by side in one run: the default
config against earlier settings (by default: the previous prompt, generate.v2.jinja at temperature
0.8, 32 prompts together and one at a time, and the first bronze prompt, generate.v1.jinja with 5
sentences per prompt, one at a time), on the first prompts of the same seeded plan.

    python benchmarks/llm_generation.py --prompts 32 --baseline-prompts 8
Writes benchmarks/results/llm_generation.json: per setting, sentences per minute, the mean
length in tokens against gold train's, distinct-2 (of as many sentences as the smallest setting
wrote, drawn at random, and gold train's at that size) and the share with markdown.
"""
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import List

import spacy
import srsly
import typer
from wasabi import msg

from ad_signs.llm.batch_runner import chat_model, generate_docs, load_llm
from ad_signs.llm.generate_task import plan_requests
from ad_signs.text import distinct_n_at, has_markdown, lower_tokens

BASELINES = ["generate.v2.jinja:10:32:0.8", "generate.v2.jinja:10:1:0.8", "generate.v1.jinja:5:1:0.8"]  # TEMPLATE:PER_PROMPT:N_PARALLEL[:TEMPERATURE]


def run_setting(config: Path, template: str, per_prompt: int, n_parallel: int, temperature: float, prompts: int,
                seed: int) -> dict:
    overrides = {"components.llm.model.cache_path": None}
    if temperature:
        overrides["components.llm.model.temperature"] = temperature
    if n_parallel:
        overrides["components.llm.model.n_parallel"] = n_parallel
    if template:
        overrides["components.llm.task.template"] = str(Path("components/ad_signs/llm/templates") / template)
    if per_prompt:
        overrides.update({"components.llm.task.per_prompt": per_prompt, "components.llm.model.response_format.n": per_prompt})
    nlp = load_llm(config, overrides)
    task = nlp.get_pipe("llm").task
    rounds = -(-prompts // (2 * len(task.taxonomy.labels)))  # a positive and a negative prompt per label per round
    plan = plan_requests(task.taxonomy, rounds * task.per_prompt, rounds * task.per_prompt, task.per_prompt, seed)
    step = max(1, len(plan) // prompts)
    plan = plan[::step][:prompts]  # positives and hard negatives of several labels, in plan order
    started = time.perf_counter()
    docs, summary = generate_docs(nlp, task.taxonomy, plan, Path("/tmp/ad_signs_generation_rejects.jsonl"))
    seconds = time.perf_counter() - started
    tokens = [lower_tokens(doc) for doc in docs]
    return {
        "template": template or "config default",
        "prompts": len(plan),
        "sentences_per_prompt": task.per_prompt,
        "n_parallel": chat_model(nlp).n_parallel,
        "temperature": chat_model(nlp).temperature,
        "sentences": len(docs),
        "rejects": summary.rejects,
        "seconds": seconds,
        "sentences_per_minute": 60 * len(docs) / seconds,
        "tokens_mean": statistics.mean(map(len, tokens)) if tokens else 0.0,
        "_tokens": tokens,
        "markdown_share": sum(has_markdown(doc.text) for doc in docs) / max(1, len(docs)),
        "examples": [doc.text for doc in docs[:: max(1, len(docs) // 12)]],
    }


def main(
    prompts: int = typer.Option(32, help="Generation prompts of the default setting (spread over the plan's labels)"),
    baseline_prompts: int = typer.Option(8, help="Generation prompts of each earlier setting (the first of the same plan)"),
    config: Path = typer.Option(Path("components/ad_signs/configs/llm_generate.cfg")),
    baseline: List[str] = typer.Option(BASELINES, help="Other settings to compare: TEMPLATE:PER_PROMPT:N_PARALLEL[:TEMPERATURE]"),
    gold: Path = typer.Option(Path("assets/gold/train.jsonl"), help="Gold sentences whose length bronze should match"),
    seed: int = typer.Option(0),
    out: Path = typer.Option(Path("benchmarks/results/llm_generation.json")),
):
    nlp = spacy.blank("en")
    gold_lists = [lower_tokens(nlp.make_doc(r["text"])) for r in srsly.read_jsonl(gold)]
    gold_tokens = statistics.mean(map(len, gold_lists))
    settings = {"default": ("", 0, 0, 0.0, prompts)}
    for spec in baseline:
        template, per_prompt, n_parallel, temperature = (spec.split(":") + ["", "", ""])[:4]
        settings[spec] = (template, int(per_prompt or 0), int(n_parallel or 0), float(temperature or 0), baseline_prompts)
    runs = {name: run_setting(config, *setting, seed) for name, setting in settings.items()}
    size = min(len(run["_tokens"]) for run in runs.values())  # distinct-2 compares at one set size
    for run in runs.values():
        run["speed_vs_default"] = run["sentences_per_minute"] / runs["default"]["sentences_per_minute"]
        run["tokens_vs_gold"] = run["tokens_mean"] / gold_tokens
        run["distinct_2"] = distinct_n_at(run.pop("_tokens"), 2, size)
    gold_distinct = distinct_n_at(gold_lists, 2, size)
    msg.table([[name, r["n_parallel"], r["sentences"], f"{r['sentences_per_minute']:.1f}", f"{r['speed_vs_default']:.2f}",
                f"{r['tokens_mean']:.1f} ({r['tokens_vs_gold']:.2f})", f"{r['distinct_2']:.2f}", f"{r['markdown_share']:.2f}", r["rejects"]]
               for name, r in runs.items()],
              header=["setting", "parallel", "sentences", "per minute", "vs default", "tokens (vs gold)", "distinct-2", "markdown", "rejects"])
    msg.info(f"distinct-2 of {size} sentences drawn at random (gold train: {gold_distinct:.2f})")
    for text in runs["default"]["examples"]:
        print("  -", text)
    out.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(out, {"measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "prompts": prompts, "seed": seed, "gold_tokens_mean": gold_tokens, "distinct_2_sentences": size,
                           "gold_distinct_2": gold_distinct, "runs": runs})


if __name__ == "__main__":
    typer.run(main)
