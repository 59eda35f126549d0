"""Where the time of `weasel run all` goes: the workflow at the CI scale (the vars of
tests/test_workflow.py) in a fresh copy of the project, with the seconds of each step and of each
command in it, from weasel's own output.

    python benchmarks/workflow_steps.py /tmp/workflow --out benchmarks/results/workflow_steps.json
`--vars NAME=VALUE` (repeatable) overrides a CI-scale var; `--full` runs at the project's own scale.
The answer caches are empty in a fresh copy, so every LLM step asks its model; the prompt prefixes'
KV states in ~/.cache/ad_signs/prefix_states are shared with other runs on this machine.
"""
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

import srsly
import typer
from wasabi import msg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_workflow import CI_SCALE, copy_project  # noqa: E402  (the CI scale and the copy are the tests')

STEP = re.compile(r"^=+ (\S+) =+$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def step_times(lines: Iterable[Tuple[float, str]]) -> Tuple[Dict[str, float], List[Dict]]:
    """(seconds per step, each command with its step and seconds) from weasel's output lines, each
    with the time it was read: a command lasts until the next command or step header, the last until
    the last line's time."""
    steps: Dict[str, float] = {}
    commands: List[Dict] = []
    step, now = None, 0.0
    for now, line in lines:
        line = ANSI.sub("", line).strip()
        header = STEP.match(line)
        if (header or line.startswith("Running command: ")) and commands and "seconds" not in commands[-1]:
            commands[-1]["seconds"] = round(now - commands[-1].pop("started"), 1)
        if header:
            step = header.group(1)
            steps.setdefault(step, 0.0)
        elif line.startswith("Running command: "):
            commands.append({"step": step, "command": line.removeprefix("Running command: ")[:160], "started": now})
    if commands and "seconds" not in commands[-1]:
        commands[-1]["seconds"] = round(now - commands[-1].pop("started"), 1)
    for item in commands:
        steps[item["step"]] = round(steps[item["step"]] + item["seconds"], 1)
    return steps, commands


def main(
    folder: Path = typer.Argument(..., help="Folder for the copy of the project (FOLDER/project, emptied first)"),
    vars: List[str] = typer.Option([], "--vars", help="NAME=VALUE over the CI-scale vars"),
    full: bool = typer.Option(False, help="The project's own vars, not the CI scale"),
    out: Path = typer.Option(ROOT / "benchmarks/results/workflow_steps.json"),
):
    settings = {} if full else dict(CI_SCALE)
    settings.update(v.split("=", 1) for v in vars)
    shutil.rmtree(folder / "project", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    project = copy_project(folder)
    command = [str(Path(sys.executable).parent / "weasel"), "run", "all", "."]
    command += [part for name, value in settings.items() for part in (f"--vars.{name}", value)]
    started = time.perf_counter()
    with subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as run:
        steps, commands = step_times((time.perf_counter() - started, line) for line in run.stdout)
        code = run.wait()
    total = time.perf_counter() - started
    if code:
        msg.fail(f"weasel run all exited with {code} in {project}", exits=1)
    result = {"scale": "project" if full else "CI", "vars": settings, "seconds": round(total, 1), "steps": steps,
              "commands": commands}
    out.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(out, result)
    msg.table([(name, f"{seconds:.0f}", f"{seconds / total:.0%}") for name, seconds in steps.items()] + [("all", f"{total:.0f}", "")],
              header=("step", "seconds", "share"), divider=True)
    msg.table([(c["step"], f"{c['seconds']:.0f}", c["command"][:90]) for c in sorted(commands, key=lambda c: -c["seconds"])[:10]],
              header=("step", "seconds", "slowest commands"), divider=True)
    msg.good(f"-> {out}")


if __name__ == "__main__":
    typer.run(main)
