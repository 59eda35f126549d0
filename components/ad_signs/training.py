"""`spacy train` for the project's scripts and benchmarks, one way: the project's code registered,
spaCy's output in a log file, the best model's path returned.

    from ad_signs.training import train
    best = train(Path("configs/train_cnn.cfg"), Path("training/cnn"),
                 {"paths.train": "corpus/train.spacy", "paths.dev": "corpus/dev.spacy", "system.seed": 0})

By default `python -m spacy train` runs in a child process (so two can run from two threads on two
cores). `in_process=True` trains in this process instead, for a caller whose state a child would
not see: scripts/experiment.py trains in workers forked after `encoders.encoding_cache()` is filled.
"""
import json
import os
import re
import subprocess
import sys
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional, Tuple

# `--code` for the child process: registers `ad_signs.minilm_path.v1` (configs/train_trf.cfg)
# without relying on the installed entry points, which register the factories and architectures.
CODE = Path(__file__).with_name("transformer.py")
ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+\S")  # a row of spaCy's training table: epoch, step, ...


class TrainingError(RuntimeError):
    """`spacy train` failed in the child process; its log says why."""


def train(config: Path, output: Path, overrides: Optional[Dict[str, Any]] = None, *,
          log: Optional[Path] = None, in_process: bool = False) -> Path:
    """Train `config` into `output` with config `overrides` (e.g. {"paths.train": ..., "system.seed":
    0}) and return `output / "model-best"`. spaCy's stdout and stderr go to `log` (default
    `output / "train.log"`)."""
    overrides = {key: str(value) if isinstance(value, Path) else value for key, value in (overrides or {}).items()}
    log = log or output / "train.log"
    output.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf8", buffering=1) as out:  # line-buffered: in order with C output
        if in_process:
            from spacy.cli.train import train as spacy_train

            with _redirected(out):
                spacy_train(config, output, overrides=overrides)
        else:
            done = subprocess.run(train_command(config, output, overrides), stdout=out, stderr=subprocess.STDOUT)
            if done.returncode:
                raise TrainingError(f"spacy train {config} failed (exit status {done.returncode}): see {log}")
    return output / "model-best"


def train_command(config: Path, output: Path, overrides: Dict[str, Any]) -> List[str]:
    """The `python -m spacy train` command line; values that are not strings are given as JSON,
    which spaCy's CLI parses back."""
    command = [sys.executable, "-m", "spacy", "train", str(config), "--output", str(output), "--code", str(CODE)]
    for key, value in overrides.items():
        command += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return command


def logged_steps(log: Path) -> Tuple[int, int]:
    """(epoch, step) of the last row of spaCy's training table in `log`. Rows are logged every
    `eval_frequency` steps: for an epoch-bounded config the steps are the last row's."""
    rows = [match for match in map(ROW.match, log.read_text(encoding="utf8").splitlines()) if match]
    if not rows:
        raise ValueError(f"No row of spaCy's training table in {log}")
    epoch, step = rows[-1].groups()
    return int(epoch), int(step)


@contextmanager
def _redirected(out: IO[str]) -> Iterator[None]:
    """This process's stdout and stderr into `out`: Python's streams and file descriptors 1 and 2
    (output written by C code, or by Python through the descriptors)."""
    sys.stdout.flush(), sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(out.fileno(), 1), os.dup2(out.fileno(), 2)
    try:
        with redirect_stdout(out), redirect_stderr(out):
            yield
    finally:
        out.flush()
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)
