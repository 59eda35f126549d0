"""LLM labeling quality and speed on a labelled gold split (dev by default; never test for tuning).

    python benchmarks/llm_labeling.py assets/gold/dev.jsonl --shots few --limit 155
Prints per-label P/R/F1, micro/macro/binary F1 and seconds per sentence (median, mean), and
writes them to benchmarks/results/llm_labeling_<shots>_<split>.json.
`--sentences-per-prompt N` (N > 1) asks for N sentences in one prompt (benchmarks/prompts/
label_many.jinja, one answer line per sentence, choice decoding) instead of one per prompt.
`--together N` answers N prompts at a time in one llama.cpp context, as `label` does by default
(`n_parallel` of the config): the seconds are then the run's, shared by its sentences.
"""
import statistics
from pathlib import Path
from typing import Optional

import srsly
import typer
from wasabi import msg

from ad_signs.llm.batch_runner import chat_model, load_llm
from ad_signs.llm_timing import WARM_UP, label_rows, label_together, prompt_template
from ad_signs.metrics import format_table, score_label_sets

MANY_TEMPLATE = Path(__file__).parent / "prompts/label_many.jinja"


def main(
    gold: Path = typer.Argument(Path("assets/gold/dev.jsonl")),
    shots: str = typer.Option("few", help="'few' (the config's examples) or 'zero'"),
    config: Path = typer.Option(Path("components/ad_signs/configs/llm_label.cfg")),
    limit: int = typer.Option(0, help="First N sentences only (0: all)"),
    reuse_prefix: bool = typer.Option(True, help="Keep the KV cache of the shared prompt prefix"),
    examples: Optional[Path] = typer.Option(None, help="Few-shot examples file (default: the config's)"),
    template: Optional[Path] = typer.Option(None, help="Prompt template (default: the config's)"),
    stop_bias: Optional[float] = typer.Option(None, help="Choice decoding's stop bias (default: the config's)"),
    choice_decoding: bool = typer.Option(True, help="Fast label-set decoding (else grammar-constrained sampling)"),
    sentences_per_prompt: int = typer.Option(1, help="Sentences asked in one prompt"),
    together: int = typer.Option(1, min=1, help="Prompts answered at a time (n_parallel)"),
    out: Optional[Path] = typer.Option(None),
):
    rows = list(srsly.read_jsonl(gold))[: limit or None]
    overrides = {
        "components.llm.model.cache_path": None,
        "components.llm.model.reuse_prefix": reuse_prefix,
        "components.llm.model.choice_decoding": choice_decoding,
    }
    if shots == "zero":
        overrides["components.llm.task.examples"] = None
    elif examples:
        overrides["paths.examples"] = str(examples)
    if stop_bias is not None:
        overrides["components.llm.model.stop_bias"] = stop_bias
    if template:
        overrides["components.llm.task.template"] = str(template)
    if together > 1 and sentences_per_prompt > 1:
        raise typer.BadParameter("--together takes one sentence per prompt")
    nlp = load_llm(config, {**overrides, "components.llm.model.n_parallel": together})
    labels = nlp.get_pipe("llm").task.labels
    if together > 1:
        pred_sets, per_sentence, rejects = label_together(nlp, rows, together)
        seconds = [per_sentence] * len(rows)
    else:
        nlp(nlp.make_doc(WARM_UP))
        pred_sets, seconds, rejects = label_rows(nlp, rows, sentences_per_prompt, prompt_template(MANY_TEMPLATE))
    gold_sets = [set(row["labels"]) for row in rows]
    scores = score_label_sets(gold_sets, pred_sets, labels)
    result = {
        "gold": str(gold),
        "shots": shots,
        "reuse_prefix": reuse_prefix,
        "examples": str(examples) if examples else "config default",
        "template": str(template) if template else "config default",
        "decoding": chat_model(nlp).identity.get("decoding"),
        "model": chat_model(nlp).identity.get("model"),
        "sentences": len(rows),
        "sentences_per_prompt": sentences_per_prompt,
        "together": together,
        "rejects": rejects,
        "seconds_per_sentence_median": statistics.median(seconds),
        "seconds_per_sentence_mean": statistics.mean(seconds),
        **scores,
    }
    msg.table(format_table(scores), header=("label", "P", "R", "F1", "support"), divider=True)
    msg.info(f"{len(rows)} sentences, {rejects} rejects, median {result['seconds_per_sentence_median']:.2f} s/sentence "
             f"(mean {result['seconds_per_sentence_mean']:.2f}), prefix reuse {'on' if reuse_prefix else 'off'}")
    several = f"_{sentences_per_prompt}per_prompt" if sentences_per_prompt > 1 else f"_{together}together" if together > 1 else ""
    out = out or Path("benchmarks/results") / f"llm_labeling_{shots}shot_{gold.stem}{several}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(out, result)


if __name__ == "__main__":
    typer.run(main)
