"""Label-to-data speed and yield: sentences per minute on the default config.

    python benchmarks/llm_generation.py --prompts 9
Writes benchmarks/results/llm_generation.json.
"""
import time
from pathlib import Path
from typing import Optional

import srsly
import typer
from wasabi import msg

from ad_signs.llm.generate_task import plan_requests
from ad_signs.llm.run import generate_docs, load_llm


def main(
    prompts: int = typer.Option(9, help="Generation prompts to run (one label each, round robin)"),
    config: Path = typer.Option(Path("components/ad_signs/configs/llm_generate.cfg")),
    seed: int = typer.Option(0),
    template: Optional[Path] = typer.Option(None, help="Prompt template (default: the config's)"),
    out: Path = typer.Option(Path("benchmarks/results/llm_generation.json")),
):
    overrides = {"components.llm.model.cache_path": None}
    if template:
        overrides["components.llm.task.template"] = str(template)
    nlp = load_llm(config, overrides)
    task = nlp.get_pipe("llm").task
    plan = plan_requests(task.taxonomy, task.per_prompt, task.per_prompt, task.per_prompt, seed)
    step = max(1, len(plan) // prompts)
    plan = plan[::step][:prompts]  # positives and hard negatives of several labels, in plan order
    started = time.perf_counter()
    docs, summary = generate_docs(nlp, task.taxonomy, plan, Path("/tmp/ad_signs_generation_rejects.jsonl"))
    seconds = time.perf_counter() - started
    result = {
        "template": str(template) if template else "config default",
        "prompts": len(plan),
        "sentences_per_prompt": task.per_prompt,
        "sentences": len(docs),
        "rejects": summary.rejects,
        "seconds": seconds,
        "sentences_per_minute": 60 * len(docs) / seconds,
        "examples": [d.text for d in docs[:10]],
    }
    msg.info(f"{len(docs)} sentences from {len(plan)} prompts in {seconds:.1f} s: "
             f"{result['sentences_per_minute']:.1f} sentences/minute, {summary.rejects} rejects")
    for text in result["examples"]:
        print("  -", text)
    out.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(out, result)


if __name__ == "__main__":
    typer.run(main)
