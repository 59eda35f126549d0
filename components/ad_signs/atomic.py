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


def write_json(path: Path, data) -> None:
    """`srsly.write_json`, all or nothing."""
    import srsly

    with replaced_when_done(Path(path)) as partial:
        srsly.write_json(partial, data)


def write_text(path: Path, text: str) -> None:
    with replaced_when_done(Path(path)) as partial:
        partial.write_text(text, encoding="utf8")


def save_figure(figure, path: Path, **options) -> None:
    """A matplotlib figure saved all or nothing (its format from `path`'s suffix)."""
    with replaced_when_done(Path(path)) as partial:
        figure.savefig(partial, format=Path(path).suffix.lstrip("."), **options)
