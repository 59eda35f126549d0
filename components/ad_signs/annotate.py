"""Annotate many notes with a trained pipeline: one row per finding (note, sentence, label, score),
with the note's patient and date when the notes have them (for `progression`).

- On one machine: `nlp.pipe` with `n_process` workers, notes streamed from any input
  `read_records` knows (JSONL, CSV, .gz, Parquet, .txt), rows streamed to JSONL or Parquet.
- On a cluster: Dask. Each partition of the notes table is annotated on a worker that loads the
  pipeline once; the findings are written as a Parquet dataset (one file per partition).
"""
import csv
import datetime
import shutil
from collections import Counter
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc

from .atomic import replaced_when_done
from .readers import ID_FIELDS, InputError, Record, input_format, open_text

DTYPES = {"note_id": "string", "patient_id": "string", "note_date": "string", "sentence": "int32", "start": "int64",
          "end": "int64", "text": "string", "label": "string", "score": "float32"}  # one finding row (pandas dtypes)
BATCH_ROWS = 50_000  # rows per Parquet row group
FINDINGS_FORMATS = (".jsonl", ".parquet")  # what `write_rows` writes
# Patient and note-date columns tried, in order, when not named (authored data, MIMIC-III, MIMIC-IV-Note).
# A note's date is the first of its date fields that is not empty (MIMIC-III: CHARTTIME, else CHARTDATE).
PATIENT_FIELDS = ("patient_id", "SUBJECT_ID", "subject_id")
DATE_FIELDS = ("chart_date", "CHARTTIME", "charttime", "CHARTDATE", "chartdate", "note_date")


def parse_date(value: Any) -> Optional[str]:
    """An ISO date (YYYY-MM-DD) from a date or date-time value (ISO, as MIMIC writes them), else
    None: a date that does not parse is never guessed."""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.strftime("%Y-%m-%d")
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("T", " ")
    for form in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.datetime.strptime(text, form).strftime("%Y-%m-%d")
        except ValueError:
            continue
    return None


def note_context(meta: Dict[str, Any], patient_field: Optional[str], date_field: Optional[str],
                 dates: Counter) -> Tuple[Optional[str], Optional[str]]:
    """(patient id, ISO date) of a note from its fields; `dates` counts dated, missing, unparsable."""
    patient = next((meta[k] for k in ([patient_field] if patient_field else PATIENT_FIELDS) if meta.get(k) not in (None, "")), None)
    raw = next((meta[k] for k in ([date_field] if date_field else DATE_FIELDS) if meta.get(k) not in (None, "")), None)
    date = parse_date(raw)
    dates["dated" if date else "missing" if raw is None else "unparsable"] += 1
    return (None if patient is None else str(patient)), date


def finding_rows(doc: Doc, note_id: str, spans_key: str, patient: Optional[str] = None,
                 date: Optional[str] = None) -> List[Dict]:
    """One row per (sentence, label) finding; `sentence` numbers the note's sentences from 0."""
    group = doc.spans[spans_key]
    sentence_index = {sent.start: i for i, sent in enumerate(doc.sents)} if len(group) else {}
    return [{"note_id": note_id, "patient_id": patient, "note_date": date, "sentence": sentence_index[span.sent.start],
             "start": span.start_char, "end": span.end_char, "text": span.text, "label": span.label_, "score": score}
            for span, score in zip(group, group.attrs["scores"])]


def annotate_records(nlp: Language, records: Iterable[Record], n_process: int = 1, batch_size: int = 64,
                     patient_field: Optional[str] = None, date_field: Optional[str] = None,
                     dates: Optional[Counter] = None) -> Iterator[Dict]:
    """Findings of each record's note, with its patient and date (counted in `dates`)."""
    spans_key = nlp.get_pipe("ad_signs").spans_key
    dates = Counter() if dates is None else dates
    pairs = ((record.text, (record.id, *note_context(record.meta, patient_field, date_field, dates))) for record in records)
    for doc, (note_id, patient, date) in nlp.pipe(pairs, as_tuples=True, n_process=n_process, batch_size=batch_size):
        yield from finding_rows(doc, note_id, spans_key, patient, date)


def write_rows(rows: Iterable[Dict], path: Path) -> int:
    """Stream rows to .jsonl or .parquet through a temporary file, renamed when complete (an
    interrupted run leaves no partial file at `path`); returns how many were written."""
    if path.suffix not in FINDINGS_FORMATS:
        raise InputError(f"{path}: write findings to .jsonl or .parquet.")
    with replaced_when_done(path) as partial:
        return _write_jsonl(rows, partial) if path.suffix == ".jsonl" else _write_parquet(rows, partial)


def _write_jsonl(rows: Iterable[Dict], path: Path) -> int:
    import json

    n = 0
    with path.open("w", encoding="utf8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def _write_parquet(rows: Iterable[Dict], path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("note_id", pa.string()), ("patient_id", pa.string()), ("note_date", pa.string()),
                        ("sentence", pa.int32()), ("start", pa.int64()), ("end", pa.int64()),
                        ("text", pa.string()), ("label", pa.string()), ("score", pa.float32())])
    n, batch = 0, []
    with pq.ParquetWriter(path, schema) as writer:
        for row in rows:
            batch.append(row)
            if len(batch) == BATCH_ROWS:
                writer.write_table(pa.Table.from_pylist(batch, schema))
                n, batch = n + len(batch), []
        writer.write_table(pa.Table.from_pylist(batch, schema))
    return n + len(batch)


@lru_cache(maxsize=2)
def _load(model: str) -> Language:
    import spacy

    return spacy.load(model)


def annotate_frame(frame, model: str, text_field: str, id_field: Optional[str], stem: str = "notes",
                   offsets: Optional[List[int]] = None, patient_field: Optional[str] = None,
                   date_field: Optional[str] = None, partition_info: Optional[dict] = None):
    """A pandas DataFrame of notes -> a DataFrame of findings (what each Dask task runs). Without
    `id_field`, a note's id is STEM:ROW-NUMBER in the whole table (as `read_records` names it):
    `offsets` holds each partition's first row, Dask's `partition_info` says which partition this is."""
    import pandas as pd

    nlp = _load(model)
    if id_field:
        ids = list(frame[id_field].astype(str))
    else:
        start = offsets[partition_info["number"]] if offsets and partition_info else 0
        ids = [f"{stem}:{start + k}" for k in range(1, len(frame) + 1)]
    fields = frame.drop(columns=[text_field])
    metas = fields.astype(object).where(fields.notna(), None).to_dict("records")  # missing values as None
    records = [Record(i, text if isinstance(text, str) else "", meta) for i, text, meta in zip(ids, frame[text_field], metas)]
    rows = list(annotate_records(nlp, records, patient_field=patient_field, date_field=date_field))
    return pd.DataFrame(rows, columns=list(DTYPES)).astype(DTYPES)


def _csv_parts(path: Path, parts: Path, blocksize: str) -> Path:
    """A CSV (also .gz) as a folder of Parquet files in row order, read as a stream by pyarrow,
    which keeps a quoted newline inside its field: Dask's own CSV reader splits the file at byte
    offsets and breaks multi-line notes, as MIMIC's are."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    from dask.utils import parse_bytes

    with open_text(path) as f:
        names = next(csv.reader(f), [])
    reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=parse_bytes(blocksize)),
                            parse_options=pacsv.ParseOptions(newlines_in_values=True),
                            convert_options=pacsv.ConvertOptions(column_types={name: pa.string() for name in names}))
    parts.mkdir(parents=True, exist_ok=True)
    for i, batch in enumerate(reader):
        pq.write_table(pa.Table.from_batches([batch]), parts / f"part-{i:06d}.parquet")
    return parts


def annotate_with_dask(model: str, input_path: Path, output: Path, text_field: str, id_field: Optional[str],
                       scheduler: str = "local", blocksize: str = "64MB", patient_field: Optional[str] = None,
                       date_field: Optional[str] = None) -> int:
    """Annotate a notes table with Dask; `scheduler` is a `tcp://host:8786` address or 'local'
    (a LocalCluster of this machine's cores). Writes a Parquet dataset; returns the row count."""
    parts = output.with_name(f".{output.name}.csv-parts")  # a CSV's Parquet parts, beside the output: on storage the workers share
    try:
        return _annotate_with_dask(model, input_path, output, text_field, id_field, scheduler, blocksize, parts,
                                   patient_field, date_field)
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def _annotate_with_dask(model: str, input_path: Path, output: Path, text_field: str, id_field: Optional[str],
                        scheduler: str, blocksize: str, parts: Path, patient_field: Optional[str],
                        date_field: Optional[str]) -> int:
    import dask.dataframe as dd
    import pandas as pd
    from distributed import Client, LocalCluster

    suffix = input_format(input_path)
    if suffix in (".csv", ".csv.gz"):
        notes = dd.read_parquet(_csv_parts(input_path, parts, blocksize))
    elif suffix in (".jsonl", ".jsonl.gz"):
        notes = dd.read_json(input_path, lines=True, blocksize=None if suffix == ".jsonl.gz" else blocksize)
    elif suffix == ".parquet" or input_path.is_dir():
        notes = dd.read_parquet(input_path)
    else:
        raise InputError(f"{input_path}: Dask reads .csv, .jsonl (also .gz) or Parquet.")
    if text_field not in notes.columns:
        raise InputError(f"{input_path}: no text column '{text_field}'. Available: {', '.join(notes.columns)}.")
    for option, name in (("--id-field", id_field), ("--patient-field", patient_field), ("--date-field", date_field)):
        if name and name not in notes.columns:
            raise InputError(f"{input_path}: no column '{name}'. Available: {', '.join(notes.columns)}. Pass {option} NAME.")
    id_field = id_field or next((name for name in ID_FIELDS if name in notes.columns), None)
    meta = pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in DTYPES.items()})
    cluster = LocalCluster(processes=True, threads_per_worker=1) if scheduler == "local" else None
    try:
        with Client(cluster or scheduler):
            offsets = None
            if not id_field:  # row numbers across the whole table: count each partition's rows first
                offsets = list(accumulate([0, *notes.map_partitions(len).compute()]))
            stem = input_path.stem  # as read_records names a note without an id: FILE-STEM:ROW
            findings = notes.map_partitions(annotate_frame, model, text_field, id_field, stem, offsets,
                                            patient_field, date_field, meta=meta)
            partial = output.with_name(f".{output.name}.partial")  # renamed when complete: never half a dataset
            shutil.rmtree(partial, ignore_errors=True)
            findings.to_parquet(partial, write_index=False)
            rows = len(dd.read_parquet(partial))
            shutil.rmtree(output, ignore_errors=True)
            partial.rename(output)
            return rows
    finally:
        if cluster:
            cluster.close()
