"""Two experiment runs side by side, run by run, on dev only (the split choices are made on):
macro and binary F1 and the mean F1 of the rare labels (those of the first run's summary.json) of
each (architecture, regime, seed) both ran, their means, and how many runs the second one improved. For a change to an architecture's inputs (an encoder, a config):

    python scripts/experiment.py corpus /tmp/training_new /tmp/metrics_new --arch fast=NEW.cfg ... --seeds 2
    python benchmarks/compare_runs.py metrics/experiment/runs /tmp/metrics_new/runs --out benchmarks/results/NAME.json
"""
import json
from pathlib import Path

import numpy as np
import typer
from wasabi import msg


def main(before: Path = typer.Argument(..., help="Runs folder of the first experiment (metrics/experiment/runs)"),
         after: Path = typer.Argument(..., help="Runs folder of the second"),
         split: str = typer.Option("dev", help="Split to compare on: dev (never test for a choice)"),
         out: Path = typer.Option(None, help="JSON to write")):
    rare = json.loads((before.parent / "summary.json").read_text())["rare_labels"]

    def rare_f(run: dict) -> float:
        return float(np.mean([run[split]["per_label"][label]["f"] for label in rare]))

    rows = []
    for path in sorted(after.glob("*.json")):
        if not (before / path.name).exists():
            continue
        old, new = json.loads((before / path.name).read_text()), json.loads(path.read_text())
        rows.append({"run": path.stem, "macro_f": [old[split]["macro_f"], new[split]["macro_f"]],
                     "binary_f": [old[split]["binary"]["f"], new[split]["binary"]["f"]], "rare_f": [rare_f(old), rare_f(new)]})
    if not rows:
        msg.fail(f"No run of {after} is also in {before}.", exits=1)
    macro, binary, rare_fs = (np.array([r[key] for r in rows]) for key in ("macro_f", "binary_f", "rare_f"))
    summary = {"split": split, "runs": len(rows), "macro_f": macro.mean(0).tolist(), "binary_f": binary.mean(0).tolist(),
               "rare_labels": rare, "rare_f": rare_fs.mean(0).tolist(),
               "improved_macro_f": int((macro[:, 1] > macro[:, 0]).sum()), "by_run": rows}
    msg.table([(r["run"], *(f"{a:.3f} -> {b:.3f}" for a, b in (r["macro_f"], r["binary_f"], r["rare_f"]))) for r in rows],
              header=("run", f"{split} macro F1", f"{split} binary F1", f"{split} rare-label F1"), divider=True)
    msg.info(f"mean {split} macro F1 {macro[:, 0].mean():.3f} -> {macro[:, 1].mean():.3f}, binary F1 "
             f"{binary[:, 0].mean():.3f} -> {binary[:, 1].mean():.3f}, rare-label F1 {rare_fs[:, 0].mean():.3f} -> "
             f"{rare_fs[:, 1].mean():.3f}; better in {summary['improved_macro_f']} of {len(rows)} runs")
    if out:
        out.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    typer.run(main)
