"""What would labeling all of MIMIC-III (2,083,180 notes in NOTEEVENTS) cost? Time and money from
the rates this run measured, with every assumption a named parameter that the output repeats.

    python benchmarks/cost_estimate.py --labeling corpus/silver.summary.json \
        --pipeline-speed metrics/benchmarks/pipeline_speed.json --notes assets/notes/sample_notes.jsonl
Measured: seconds per sentence of the local LLM (CPU, the label config's setting) over a whole labeling
run (the `silver` step's summary: every sentence of the notes it labelled), the trained
pipeline's sentences/s, and sentences per note in --notes (pass NOTEEVENTS.csv to count them on
the real notes; the default sample notes are short authored notes). Assumed (not measurable
here, no GPU): a GPU vLLM server's sentences/s and the hourly prices.
Writes --out (JSON) and prints a table.
"""
from itertools import islice
from pathlib import Path
from typing import Optional

import srsly
import typer
from wasabi import msg

from ad_signs.readers import read_records
from ad_signs.sentences import split_sentences

MIMIC_III_NOTES = 2_083_180  # rows of NOTEEVENTS.csv (MIMIC-III v1.4)


def main(
    labeling: Path = typer.Option(Path("corpus/silver.summary.json"), help="a labeling run's summary (`python -m ad_signs label`)"),
    pipeline_speed: Path = typer.Option(Path("metrics/benchmarks/pipeline_speed.json"), help="from benchmarks/pipeline_speed.py"),
    notes: Path = typer.Option(Path("assets/notes/sample_notes.jsonl"), help="notes to count sentences per note on"),
    text_field: Optional[str] = typer.Option(None, help="text column (default: auto)"),
    sample: int = typer.Option(10000, help="notes read from --notes to count sentences"),
    total_notes: int = typer.Option(MIMIC_III_NOTES, help="notes to label"),
    cpu_machine_cores: int = typer.Option(2, help="cores of the machine the rates were measured on"),
    cpu_price_per_hour: float = typer.Option(0.10, help="ASSUMED price of one such CPU machine per hour (USD)"),
    gpu_sentences_per_second: float = typer.Option(50.0, help="ASSUMED vLLM throughput of one GPU for this model and prompt"),
    gpu_price_per_hour: float = typer.Option(1.00, help="ASSUMED price of one GPU per hour (USD)"),
    out: Path = typer.Option(Path("metrics/benchmarks/cost_estimate.json")),
):
    texts = [r.text for r in islice(read_records(notes, text_field=text_field), sample)]
    per_note = sum(len(split_sentences(t)) for t in texts) / len(texts)
    sentences = total_notes * per_note
    run = srsly.read_json(labeling)
    asked = run.get("llm_calls", {}).get("asked", 0)  # answers from the answer cache took no LLM time
    llm = {"seconds_per_sentence": run["seconds"] / asked, "sentences": asked, "settings": run.get("settings", {})} if asked else None
    pipeline = srsly.read_json(pipeline_speed)["runs"]["pipeline, 1 process"]["sentences_per_second"]
    rows = {
        **({"LLM on CPU (measured rate)": {"sentences_per_second": 1 / llm["seconds_per_sentence"], "price_per_hour": cpu_price_per_hour,
                                          "unit": f"{cpu_machine_cores}-core machine"}} if llm else {}),
        "LLM on GPU vLLM (assumed rate)": {"sentences_per_second": gpu_sentences_per_second,
                                           "price_per_hour": gpu_price_per_hour, "unit": "GPU"},
        "trained pipeline on CPU (measured rate)": {"sentences_per_second": pipeline, "price_per_hour": cpu_price_per_hour,
                                                    "unit": "1 core"},
    }
    for row in rows.values():
        row["hours"] = sentences / row["sentences_per_second"] / 3600
        row["cost_usd"] = row["hours"] * row["price_per_hour"]
        row["days_on_100_units"] = row["hours"] / 100 / 24
    if not llm:
        msg.warn(f"{labeling}: every answer came from the answer cache, so it measured no LLM rate; the CPU LLM row is left out.")
    result = {"notes": total_notes, "llm_rate_from": {"summary": str(labeling), **llm} if llm else None, "sentences_per_note": per_note, "sentences_per_note_from": f"{len(texts)} notes of {notes}",
              "sentences": sentences, "assumed": {"cpu_price_per_hour": cpu_price_per_hour,
                                                  "gpu_sentences_per_second": gpu_sentences_per_second,
                                                  "gpu_price_per_hour": gpu_price_per_hour},
              "estimates": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(out, result)
    msg.info(f"{total_notes:,} notes x {per_note:.1f} sentences/note (counted on {len(texts)} notes of {notes}) "
             f"= {sentences:,.0f} sentences")
    msg.table([(name, f"{r['sentences_per_second']:.2f}", r["unit"], f"{r['hours']:,.0f}", f"{r['days_on_100_units']:.1f}",
                f"{r['cost_usd']:,.0f}") for name, r in rows.items()],
              header=("who labels", "sentences/s", "per", "unit-hours", "days on 100 units", "USD"), divider=True)
    msg.warn(f"Assumed, not measured: GPU {gpu_sentences_per_second} sentences/s, GPU ${gpu_price_per_hour}/h, "
             f"CPU machine ${cpu_price_per_hour}/h.")


if __name__ == "__main__":
    typer.run(main)
