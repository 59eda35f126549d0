"""Progression at cohort scale: synthetic findings (1,000,000 rows from 100,000 patients by default)
aggregated by `ad_signs.progression` (per patient and label, per patient, the cohort figures), each
measurement in a fresh process that reports its own time and peak RSS. The baseline, in the same
run, is one plain DuckDB scan of the same file (count and max of every column the aggregation reads).

    python benchmarks/progression.py --rows 1000000 --patients 100000
Writes benchmarks/results/progression.json. Targets (issue 15): <= 30 s, peak < 2 GB on 2 cores.
"""
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import numpy
import srsly
import typer
from wasabi import msg

from ad_signs.taxonomy import load_taxonomy


def synthetic_findings(path: Path, rows: int, patients: int, seed: int = 0) -> None:
    """Finding rows as `annotate` writes them: ~rows/patients per patient over ~8 notes each, dates
    over 10 years, 1 % without a date."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = numpy.random.default_rng(seed)
    labels = numpy.array(load_taxonomy().labels)
    patient = rng.integers(0, patients, rows)
    note = patient * 8 + rng.integers(0, 8, rows)
    day = (note % 8) * 400 + rng.integers(0, 30, rows)
    dates = (numpy.datetime64("2150-01-01") + day.astype("timedelta64[D]")).astype(str).astype(object)
    dates[rng.random(rows) < 0.01] = None
    table = pa.table({
        "note_id": pa.array([f"N{n}" for n in note]), "patient_id": pa.array([f"P{p}" for p in patient]),
        "note_date": pa.array(dates, pa.string()), "sentence": pa.array(rng.integers(0, 40, rows), pa.int32()),
        "start": pa.array(rng.integers(0, 4000, rows)), "end": pa.array(rng.integers(4000, 5000, rows)),
        "text": pa.array(["Pt more forgetful per wife."] * rows), "label": pa.array(labels[rng.integers(0, len(labels), rows)]),
        "score": pa.array(rng.random(rows), pa.float32())})
    pq.write_table(table, path, row_group_size=50_000)


def _aggregate(path: str, queue) -> None:
    from ad_signs.progression import aggregate

    started = time.perf_counter()
    progression = aggregate(path)
    cohort = progression.cohort()
    queue.put({"seconds": time.perf_counter() - started, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "patients": cohort["patients"], "rows_without_date": cohort["rows_without_date"]})


def _scan(path: str, queue) -> None:
    import duckdb

    started = time.perf_counter()
    duckdb.connect().execute(f"SELECT count(*), max(patient_id), max(note_id), max(note_date), max(label), max(score) "
                             f"FROM read_parquet('{path}')").fetchall()
    queue.put({"seconds": time.perf_counter() - started, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def measure(target, path: Path) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(str(path), queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main(rows: int = typer.Option(1_000_000), patients: int = typer.Option(100_000),
         out: Path = typer.Option(Path("benchmarks/results/progression.json"))):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "findings.parquet"
        started = time.perf_counter()
        synthetic_findings(path, rows, patients)
        made = time.perf_counter() - started
        scan, progression = measure(_scan, path), measure(_aggregate, path)
    result = {"rows": rows, "patients": patients, "generate_seconds": made, "scan": scan, "aggregate": progression,
              "aggregate_vs_scan": progression["seconds"] / scan["seconds"]}
    msg.table([("plain scan (baseline)", f"{scan['seconds']:.2f}", f"{scan['peak_rss_mb']:.0f}"),
               ("progression aggregate", f"{progression['seconds']:.2f}", f"{progression['peak_rss_mb']:.0f}")],
              header=(f"{rows:,} rows, {patients:,} patients", "seconds", "peak RSS MB"), divider=True)
    msg.info(f"aggregate / scan: {result['aggregate_vs_scan']:.1f}x; {progression['patients']:,} patients aggregated")
    out.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(out, result)


if __name__ == "__main__":
    typer.run(main)
