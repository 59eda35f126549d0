"""Writes that are all or nothing: a file appears at its path only once it is complete."""
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def replaced_when_done(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` that replaces it only if the block completes: an interrupted
    write leaves the previous file (or none), never a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
