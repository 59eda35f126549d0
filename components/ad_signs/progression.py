"""AD sign progression over each patient's notes, from `annotate`'s findings (one row per note
sentence and label, with the note's patient and date).

Per patient and label: first and last date, notes and sentences; per patient: the order in which
labels first appeared, the days from the first documented cognitive complaint or relative's
concern to the first diagnosis, and whether two or more signs stand without a diagnosis (the
early-detection cohort). Aggregated by DuckDB: SQL straight over the JSONL or Parquet files
(one file or a folder of partitions, as Dask writes them), streamed and spilled to disk beyond
`memory_limit`, so memory grows with the number of patients, not of notes. Rows without a
patient or a parsable date are counted and left out, never guessed.
"""
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from .atomic import replaced_when_done, save_figure, write_text
from .taxonomy import load_taxonomy

ONSET_LABELS = ("COGNITIVE_IMPAIRMENT", "NOTICE_BY_OTHERS")  # the first documented complaint or concern
DIAGNOSIS = "DIAGNOSIS"
COLUMNS = {"note_id": "VARCHAR", "patient_id": "VARCHAR", "note_date": "VARCHAR", "label": "VARCHAR", "score": "DOUBLE"}


class FindingsError(ValueError):
    """Findings that cannot be aggregated (wrong format, missing columns)."""


def _source(path: Path) -> str:
    """A DuckDB table function reading the findings at `path` (a file or a folder of parts)."""
    if path.is_dir():
        kinds = [kind for kind in ("parquet", "jsonl") if any(path.glob(f"*.{kind}"))]
        if not kinds:
            raise FindingsError(f"{path}: no .parquet or .jsonl findings in this folder (write them with `annotate`).")
        files, kind = str(path / f"*.{kinds[0]}"), kinds[0]
    elif path.suffix in (".parquet", ".jsonl"):
        files, kind = str(path), path.suffix[1:]
    else:
        raise FindingsError(f"{path}: findings are .parquet or .jsonl, or a folder of them (from `annotate`).")
    quoted = files.replace("'", "''")
    if kind == "parquet":
        return f"read_parquet('{quoted}')"
    columns = ", ".join(f"'{name}': '{kind}'" for name, kind in COLUMNS.items())
    return f"read_json('{quoted}', format = 'newline_delimited', columns = {{{columns}}})"


@dataclass
class Progression:
    """The aggregates, as DuckDB tables in `con`: `patient_labels` and `patients`."""

    con: Any
    counts: Dict[str, int]
    labels: Sequence[str]

    def patient(self, patient_id: str) -> Dict[str, Any]:
        """One patient's labels (first, last, notes, sentences), onset order, days to diagnosis."""
        rows = self.con.execute("SELECT label, strftime(first, '%Y-%m-%d'), strftime(last, '%Y-%m-%d'), notes, sentences "
                                "FROM patient_labels JOIN ranks USING (label) WHERE patient_id = ? ORDER BY rank",
                                [patient_id]).fetchall()
        summary = self.con.execute("SELECT onset_order, days_to_diagnosis, signs_without_diagnosis FROM patients "
                                   "WHERE patient_id = ?", [patient_id]).fetchone()
        if summary is None:
            raise KeyError(f"No dated findings for patient {patient_id}.")
        return {"labels": {label: {"first": first, "last": last, "notes": notes, "sentences": sentences}
                           for label, first, last, notes, sentences in rows},
                "onset_order": list(summary[0]), "days_to_diagnosis": summary[1], "signs_without_diagnosis": summary[2]}

    def cohort(self) -> Dict[str, Any]:
        """Patients with each label; time to diagnosis (median, IQR); onset positions; early cohort."""
        q = lambda sql: self.con.execute(sql).fetchall()  # noqa: E731
        with_label = dict(q("SELECT label, count(*) FROM patient_labels GROUP BY label"))
        n, median, q1, q3, before = q(
            "SELECT count(days_to_diagnosis) FILTER (WHERE days_to_diagnosis >= 0), "
            "median(days_to_diagnosis) FILTER (WHERE days_to_diagnosis >= 0), "
            "quantile_cont(days_to_diagnosis, 0.25) FILTER (WHERE days_to_diagnosis >= 0), "
            "quantile_cont(days_to_diagnosis, 0.75) FILTER (WHERE days_to_diagnosis >= 0), "
            "count(*) FILTER (WHERE days_to_diagnosis < 0) FROM patients")[0]
        positions = q("SELECT label, position, count(*) FROM (SELECT unnest(onset_order) AS label, "
                      "generate_subscripts(onset_order, 1) AS position FROM patients) GROUP BY ALL")
        onset: Dict[str, Dict[int, int]] = {label: {} for label in self.labels}
        for label, position, count in positions:
            onset[label][int(position)] = count
        return {
            **self.counts,
            "patients": q("SELECT count(*) FROM patients")[0][0],
            "patients_with_label": {label: with_label.get(label, 0) for label in self.labels},
            "days_to_diagnosis": {"patients": n, "median": median, "q1": q1, "q3": q3, "diagnosis_first": before},
            "signs_without_diagnosis": q("SELECT count(*) FROM patients WHERE signs_without_diagnosis")[0][0],
            "onset_positions": onset,
        }

    def marks(self, patient_id: str, findings: Path) -> List[tuple]:
        """(date, label, highest score) per note of one patient: the swimlane's marks."""
        return self.con.execute(
            f"SELECT TRY_CAST(note_date AS DATE) AS d, label, max(score) FROM {_source(findings)} "
            "WHERE patient_id = ? AND d IS NOT NULL GROUP BY ALL ORDER BY d", [patient_id]).fetchall()


def aggregate(findings: Union[str, Path], labels: Optional[Sequence[str]] = None, memory_limit: str = "1GB",
              threads: Optional[int] = None) -> Progression:
    """Aggregate the findings at `findings` into per-patient tables (see the module docstring)."""
    import duckdb

    path = Path(findings)
    if not path.exists():
        raise FindingsError(f"Findings not found: {path}")
    labels = list(labels or load_taxonomy().labels)
    con = duckdb.connect(config={"memory_limit": memory_limit, **({"threads": threads} if threads else {})})
    source = _source(path)
    try:
        columns = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    except duckdb.Error as err:
        raise FindingsError(f"{path}: cannot read the findings ({str(err).splitlines()[0]}).") from None
    missing = sorted(set(COLUMNS) - columns)
    if missing:
        raise FindingsError(f"{path}: the findings have no {', '.join(missing)} column(s). Annotate the notes again "
                            "(`annotate` writes patient_id and note_date; name their fields with --patient-field, --date-field).")
    con.execute("CREATE TEMP TABLE ranks (label VARCHAR, rank INTEGER)")
    con.executemany("INSERT INTO ranks VALUES (?, ?)", [(label, i) for i, label in enumerate(labels)])
    con.execute(f"CREATE TEMP VIEW findings AS SELECT patient_id, note_id, label, score, "
                f"TRY_CAST(note_date AS DATE) AS d, note_date FROM {source}")
    rows, no_patient, undated = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE patient_id IS NULL OR patient_id = ''), "
        "count(*) FILTER (WHERE patient_id IS NOT NULL AND patient_id <> '' AND d IS NULL) FROM findings").fetchone()
    con.execute("CREATE TEMP TABLE patient_labels AS SELECT patient_id, label, min(d) AS first, max(d) AS last, "
                "count(DISTINCT note_id) AS notes, count(*) AS sentences, max(score) AS max_score FROM findings "
                "WHERE patient_id IS NOT NULL AND patient_id <> '' AND d IS NOT NULL GROUP BY patient_id, label")
    onset = ", ".join(f"'{label}'" for label in ONSET_LABELS)
    con.execute(f"""CREATE TEMP TABLE patients AS
        SELECT patient_id,
               list(label ORDER BY first, rank) AS onset_order,
               date_diff('day', min(first) FILTER (WHERE label IN ({onset})),
                         min(first) FILTER (WHERE label = '{DIAGNOSIS}')) AS days_to_diagnosis,
               count(*) FILTER (WHERE label <> '{DIAGNOSIS}') >= 2
                   AND count(*) FILTER (WHERE label = '{DIAGNOSIS}') = 0 AS signs_without_diagnosis
        FROM patient_labels JOIN ranks USING (label) GROUP BY patient_id""")
    return Progression(con, {"finding_rows": rows, "rows_without_patient": no_patient, "rows_without_date": undated}, labels)


def write_report(progression: Progression, findings: Path, out: Path, patients: Sequence[str] = (),
                 swimlanes: int = 6) -> Dict[str, Any]:
    """The cohort figures and per-patient tables under `out`: progression.json, patients.csv,
    patient_labels.csv, README.md and PNGs (a swimlane per patient: `patients`, else the
    `swimlanes` patients with the most labels; time to diagnosis; onset order)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    con, labels = progression.con, list(progression.labels)
    cohort = progression.cohort()
    chosen = list(patients) or [row[0] for row in con.execute(
        "SELECT patient_id FROM patient_labels GROUP BY patient_id ORDER BY count(*) DESC, patient_id LIMIT ?",
        [swimlanes]).fetchall()]
    details = {patient: progression.patient(patient) for patient in chosen}  # an unknown patient: KeyError, nothing written
    out.mkdir(parents=True, exist_ok=True)
    for table in ("patients", "patient_labels"):
        with replaced_when_done(out / f"{table}.csv") as partial:
            target = str(partial).replace("'", "''")
            con.execute(f"COPY (SELECT * FROM {table} ORDER BY patient_id) TO '{target}' (HEADER, FORMAT CSV)")

    pictures = []
    for patient in chosen:
        marks = progression.marks(patient, findings)
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(labels) + 1.2))
        for date, label, score in marks:
            ax.scatter(date, labels.index(label), s=60, color="tab:red", alpha=max(0.15, float(score)))
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_ylim(-0.5, len(labels) - 0.5)
        ax.invert_yaxis()
        ax.set_title(f"Patient {patient}: a mark per note (opacity: the highest score)", fontsize=9)
        fig.tight_layout()
        name = f"swimlane_{''.join(c if c.isalnum() else '_' for c in patient)}.png"
        save_figure(fig, out / name, dpi=110)
        plt.close(fig)
        pictures.append((f"Patient {patient}", name))

    days = [row[0] for row in con.execute("SELECT days_to_diagnosis FROM patients WHERE days_to_diagnosis >= 0").fetchall()]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist([d / 365.25 for d in days], bins=min(20, max(1, len(days))), color="tab:blue")
    ax.set_xlabel("years from the first cognitive complaint or relative's concern to the first diagnosis")
    ax.set_ylabel("patients")
    fig.tight_layout()
    save_figure(fig, out / "time_to_diagnosis.png", dpi=110)
    plt.close(fig)

    positions = cohort["onset_positions"]
    width = max([max(p, default=0) for p in positions.values()], default=0) or 1
    grid = [[positions[label].get(k, 0) for k in range(1, width + 1)] for label in labels]
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(labels) + 1.2))
    ax.imshow(grid, cmap="Blues", aspect="auto")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xticks(range(width), [str(k) for k in range(1, width + 1)])
    ax.set_xlabel("position in the patient's order of first appearance")
    for i, row in enumerate(grid):
        for k, count in enumerate(row):
            if count:
                ax.text(k, i, str(count), ha="center", va="center", fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "onset_order.png", dpi=110)
    plt.close(fig)

    result = {"cohort": cohort, "patients": details}
    write_text(out / "progression.json", json.dumps(result, indent=1, default=str))
    write_text(out / "README.md", _markdown(cohort, details, pictures))
    return result


def _markdown(cohort: Dict[str, Any], details: Dict[str, Any], pictures: List[tuple]) -> str:
    d = cohort["days_to_diagnosis"]
    years = lambda v: "—" if v is None else f"{v / 365.25:.1f}"  # noqa: E731
    lines = [
        "# AD sign progression (`python -m ad_signs progression`)", "",
        f"{cohort['patients']} patients with dated findings, from {cohort['finding_rows']} finding rows; "
        f"{cohort['rows_without_date']} rows without a parsable note date and {cohort['rows_without_patient']} "
        "without a patient were left out (never guessed).", "",
        "| label | patients |", "|---|---|",
        *[f"| {label} | {n} |" for label, n in cohort["patients_with_label"].items()], "",
        f"Time from the first COGNITIVE_IMPAIRMENT or NOTICE_BY_OTHERS to the first DIAGNOSIS: {d['patients']} "
        f"patients, median {years(d['median'])} years (IQR {years(d['q1'])}-{years(d['q3'])}); "
        f"{d['diagnosis_first']} patients have a diagnosis documented before any such sign.", "",
        f"**Early-detection cohort:** {cohort['signs_without_diagnosis']} patients with two or more signs and no "
        "DIAGNOSIS.", "",
        "![time to diagnosis](time_to_diagnosis.png) ![onset order](onset_order.png)", "",
        "Per patient and label: `patient_labels.csv`; per patient: `patients.csv`.", "",
    ]
    for (title, picture), info in zip(pictures, details.values()):
        lines += [f"## {title}", "", f"Onset order: {' → '.join(info['onset_order'])}; days to diagnosis: "
                  f"{info['days_to_diagnosis'] if info['days_to_diagnosis'] is not None else '—'}", "",
                  "| label | first | last | notes | sentences |", "|---|---|---|---|---|",
                  *[f"| {label} | {v['first']} | {v['last']} | {v['notes']} | {v['sentences']} |"
                    for label, v in info["labels"].items()], "", f"![{title}]({picture})", ""]
    return "\n".join(lines)
