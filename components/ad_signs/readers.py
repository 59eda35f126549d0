"""The library's I/O layer. Notes or sentences from what users bring: JSONL, CSV (MIMIC-III
NOTEEVENTS.csv, MIMIC-IV-Note discharge.csv; gzipped as PhysioNet ships them, or not), Parquet, a
plain-text file or a folder of .txt files, a DocBin; split notes into sentence Docs. DocBins of
sentences are read with `read_docs` and written (all or nothing) with `write_docs`.

Every input format is one row of `FORMATS`: a new format is a reader and a row here.
"""
import csv
import gzip
import json
import sys
import zlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Union

from spacy.language import Language
from spacy.tokens import Doc
from spacy.vocab import Vocab

from .atomic import replaced_when_done
from .sentences import split_sentences

# Text columns tried, in order, when a CSV or JSONL does not name one (MIMIC-III, MIMIC-IV-Note).
TEXT_FIELDS = ("text", "TEXT", "sentence", "note_text")
ID_FIELDS = ("note_id", "ROW_ID", "id", "NOTE_ID")
# A patient identifier column marks credentialed patient data (MIMIC-III, MIMIC-IV-Note): such
# notes are never sent off this machine without an explicit flag (`label --allow-remote`).
SENSITIVE_FIELDS = ("SUBJECT_ID", "subject_id")


class InputError(ValueError):
    """An input file in a wrong format or without the expected fields."""


@dataclass
class Record:
    id: str
    text: str
    meta: Dict[str, Any] = field(default_factory=dict)
    sensitive: bool = False


def _pick(columns: List[str], wanted: Optional[str], candidates: tuple, path: Path, what: str) -> Optional[str]:
    if wanted:
        if wanted not in columns:
            raise InputError(f"{path}: no {what} field '{wanted}'. Available: {', '.join(columns)}. Pass --text-field NAME.")
        return wanted
    for name in candidates:
        if name in columns:
            return name
    if what == "text":
        raise InputError(
            f"{path}: none of the text fields {list(candidates)} found. Available: {', '.join(columns)}. "
            "Pass --text-field NAME."
        )
    return None


def open_text(path: Path):
    """A UTF-8 text file (a byte-order mark is dropped), gunzipped on the fly when it ends in .gz.
    Text in another encoding, or a file whose name hides or fakes its compression, is an InputError;
    bytes that are not UTF-8 are found while reading (`_reading`)."""
    gz = path.suffix == ".gz"
    try:
        with (gzip.open(path, "rb") if gz else path.open("rb")) as f:
            head = f.read(4)
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise InputError(f"{path}: not a gzip file ({err}). Rename it without .gz if it is plain text.") from None
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InputError(f"{path}: UTF-16 text. Save it as UTF-8, e.g. iconv -f UTF-16 -t UTF-8 {path.name} > utf8{path.suffix}")
    if not gz and head[:2] == b"\x1f\x8b":
        raise InputError(f"{path}: gzip-compressed, but its name does not end in .gz. Rename it {path.name}.gz.")
    opener = gzip.open if gz else open
    return opener(path, "rt", encoding="utf-8-sig", newline="")


def _first_bad_line(path: Path) -> int:
    """The number of the first line of `path` that is not UTF-8."""
    with (gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")) as f:
        for n, line in enumerate(f, 1):
            try:
                line.decode("utf8")
            except UnicodeDecodeError:
                return n
    return 0


@contextmanager
def _reading(path: Path, line: Callable[[], int]):
    """Errors met while reading `path` as one InputError naming the file, the line and the fix."""
    try:
        yield
    except UnicodeDecodeError:
        raise InputError(f"{path}, line {_first_bad_line(path)}: not UTF-8 text. Save the file as UTF-8.") from None
    except (EOFError, OSError, zlib.error) as err:  # a truncated or corrupt .gz
        raise InputError(f"{path}: the gzip stream is truncated or corrupt after line {line()} ({err}). "
                         "Copy or download the file again.") from None
    except csv.Error as err:
        raise InputError(f"{path}, line {line()}: not a well-formed CSV ({err}).") from None


def _text(value: Any, path: Path, where: str, key: str) -> str:
    """A record's text: a string, or '' for a null; any other type is an error, never coerced."""
    if value is None or isinstance(value, str):
        return value or ""
    raise InputError(f"{path}, {where}: field '{key}' holds {type(value).__name__} {str(value)[:40]!r}, not text. "
                     "Fix the row, or pass --text-field NAME for the field that holds the note.")


def iter_jsonl(path: Path) -> Iterator[tuple]:
    """(line number, object) for each non-empty line; a line that is not a JSON object is an error."""
    n = 0
    with open_text(path) as f, _reading(path, lambda: n):
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"{path}, line {n}: not valid JSON ({err.msg}). Each line must be one JSON object.") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}, line {n}: expected a JSON object, got {type(row).__name__}.")
            yield n, row


def _read_jsonl(path: Path, text_field: Optional[str], id_field: Optional[str] = None) -> Iterator[Record]:
    for n, row in iter_jsonl(path):
        text_key = _pick(list(row), text_field, TEXT_FIELDS, path, "text")
        id_key = _pick(list(row), id_field, ID_FIELDS, path, "id")
        meta = {k: v for k, v in row.items() if k != text_key and isinstance(v, (str, int, float, bool))}
        sensitive = any(k in row for k in SENSITIVE_FIELDS)
        text = _text(row[text_key], path, f"line {n}", text_key)
        yield Record(str(row[id_key]) if id_key else f"{path.stem}:{n}", text, meta, sensitive)


def _read_csv(path: Path, text_field: Optional[str], id_field: Optional[str] = None) -> Iterator[Record]:
    csv.field_size_limit(sys.maxsize)  # MIMIC notes can be long
    with open_text(path) as f, _reading(path, lambda: reader.line_num):
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        text_key = _pick(columns, text_field, TEXT_FIELDS, path, "text")
        id_key = _pick(columns, id_field, ID_FIELDS, path, "id")
        sensitive = any(k in columns for k in SENSITIVE_FIELDS)
        for n, row in enumerate(reader, 1):
            if None in row or None in row.values():
                raise InputError(f"{path}, line {reader.line_num}: the row does not have the header's {len(columns)} "
                                 "columns. Quote fields that hold commas or line breaks.")
            meta = {k: v for k, v in row.items() if k != text_key}
            yield Record(row[id_key] if id_key else f"{path.stem}:{n}", row[text_key], meta, sensitive)


def _read_parquet(path: Path, text_field: Optional[str], id_field: Optional[str] = None) -> Iterator[Record]:
    """Notes from a Parquet file, read a row group at a time (needs pyarrow: the [scale] extra)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"{path}: reading Parquet needs pyarrow: pip install 'ad-signs[scale]'.") from None
    try:
        table = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises ArrowInvalid and others on a broken file
        raise InputError(f"{path}: not a Parquet file ({err}).") from None
    columns = table.schema_arrow.names
    text_key = _pick(columns, text_field, TEXT_FIELDS, path, "text")
    id_key = _pick(columns, id_field, ID_FIELDS, path, "id")
    sensitive = any(k in columns for k in SENSITIVE_FIELDS)
    n = 0
    for batch in table.iter_batches():
        for row in batch.to_pylist():
            n += 1
            meta = {k: v for k, v in row.items() if k != text_key and isinstance(v, (str, int, float, bool))}
            text = _text(row[text_key], path, f"row {n}", text_key)
            yield Record(str(row[id_key]) if id_key else f"{path.stem}:{n}", text, meta, sensitive)


def _read_txt(path: Path, text_field: Optional[str] = None, id_field: Optional[str] = None) -> Iterator[Record]:
    with open_text(path) as f, _reading(path, lambda: 0):
        yield Record(path.stem, f.read(), {"file": path.name})


_msgpack_depth = 0


@lru_cache(maxsize=1)
def _blank_vocab() -> Vocab:
    """One blank English vocab for every DocBin read without a pipeline's (making one takes ~0.2 s)."""
    import spacy

    return spacy.blank("en").vocab


@contextmanager
def msgpack_hooks_resolved_once() -> Iterator[None]:
    """srsly looks up its msgpack encoders and decoders (a catalogue registry: it scans every
    registered function and the installed entry points) each time it packs or unpacks an object,
    and a DocBin with user data packs each doc's: here ~0.3 ms a doc, most of reading or writing
    one. Inside this block the lookup is done once, at its start. For one thread: the registries
    are srsly's own, shared by the process."""
    global _msgpack_depth
    from srsly import msgpack

    registries = (msgpack.msgpack_encoders, msgpack.msgpack_decoders)
    if not _msgpack_depth:
        for registry in registries:
            registry.get_all = (lambda resolved: lambda: resolved)(registry.get_all())
    _msgpack_depth += 1
    try:
        yield
    finally:
        _msgpack_depth -= 1
        if not _msgpack_depth:
            for registry in registries:
                del registry.get_all  # the class's own lookup again


def read_docs(path: Union[str, Path], vocab: Union[Language, Vocab, None] = None) -> List[Doc]:
    """The docs of a DocBin (.spacy), with their cats and user data (e.g. a generated sentence's
    source), on `vocab` (a pipeline's or a Vocab; default: a blank English one)."""
    from spacy.tokens import DocBin

    path = Path(path)
    if not path.exists():
        raise InputError(f"Input not found: {path}")
    if vocab is None:
        vocab = _blank_vocab()
    elif isinstance(vocab, Language):
        vocab = vocab.vocab
    try:
        with msgpack_hooks_resolved_once():
            return list(DocBin(store_user_data=True).from_disk(path).get_docs(vocab))
    except Exception as err:  # DocBin raises assorted msgpack/zlib errors on a wrong file
        raise InputError(f"{path}: not a spaCy DocBin ({type(err).__name__}: {err}). "
                         "Make it with `corpus`, `label` or `generate`.") from None


def write_docs(docs: Iterable[Doc], path: Union[str, Path]) -> int:
    """Write docs, with their cats and user data, to a DocBin at `path`, all or nothing (a
    temporary file renamed when complete); returns how many were written."""
    from spacy.tokens import DocBin

    with msgpack_hooks_resolved_once():
        docbin = DocBin(store_user_data=True, docs=docs)
    with replaced_when_done(Path(path)) as partial:
        docbin.to_disk(partial)
    return len(docbin)


def _read_docbin(path: Path, text_field: Optional[str] = None, id_field: Optional[str] = None) -> Iterator[Record]:
    """Sentences of a DocBin (e.g. bronze, to label it again), with their cats as meta."""
    for n, doc in enumerate(read_docs(path)):  # sentences cut from patient notes stay patient data
        sensitive = bool((doc.user_data.get("source") or {}).get("sensitive", False))
        yield Record(f"{path.stem}:{n}", doc.text, {"cats": dict(doc.cats)}, sensitive)


def read_records(path: Union[str, Path], text_field: Optional[str] = None, id_field: Optional[str] = None) -> Iterator[Record]:
    """Records from a .jsonl, .csv (either also gzipped), .parquet, .txt, .spacy file or a folder of .txt files.
    A record's id is `id_field` (default: the first of ID_FIELDS present), else FILE-STEM:ROW-NUMBER."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"Input not found: {path}")
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise InputError(f"{path}: folder has no .txt files.")
        for file in files:
            yield from _read_txt(file)
        return
    kind = input_format(path)
    if kind not in FORMATS:
        raise InputError(
            f"{path}: unsupported format '{kind}'. Use .jsonl, .csv (either may be .gz), .parquet, .txt, .spacy or a folder of .txt files."
        )
    yield from FORMATS[kind](path, text_field, id_field)


def input_format(path: Path) -> str:
    """The key of `path` in FORMATS: its suffix, with the one before when gzipped (.csv.gz)."""
    return "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix


# Every input format: suffix -> records reader (path, text_field, id_field). `read_records` reads
# them all; `annotate --dask` reads the tables among them (CSV, JSONL, Parquet) by the same keys.
FORMATS: Dict[str, Callable[[Path, Optional[str], Optional[str]], Iterator[Record]]] = {
    ".jsonl": _read_jsonl,
    ".jsonl.gz": _read_jsonl,
    ".csv": _read_csv,
    ".csv.gz": _read_csv,
    ".parquet": _read_parquet,
    ".txt": _read_txt,
    ".spacy": _read_docbin,
}


def sentence_docs(nlp: Language, records, unit: str = "note", skipped: Optional[Counter] = None) -> Iterator[Doc]:
    """One Doc per sentence (`unit="note"`: notes are split) with the source in `doc.user_data`.
    Records without text yield nothing and are counted in `skipped`."""
    if unit not in ("note", "sentence"):
        raise InputError(f"unit must be 'note' or 'sentence', not '{unit}'.")
    for record in records:
        if not record.text.strip():
            if skipped is not None:
                skipped["records without text"] += 1
            continue
        spans = split_sentences(record.text) if unit == "note" else [(0, len(record.text))]
        for i, (start, end) in enumerate(spans):
            text = " ".join(record.text[start:end].split())
            if not text:
                continue
            doc = nlp.make_doc(text)
            doc.user_data["source"] = {"id": record.id, "sentence": i, "start": start, "end": end}
            if record.sensitive:
                doc.user_data["source"]["sensitive"] = True
            yield doc
