"""The authored patients' notes (assets/patients/) as gold sentences: every sentence the clinical
splitter cuts from the notes, with the labels of `findings_gold.jsonl` (none for the others).

Whole notes by another author than the gold splits: headings, med lists and vitals among the
findings, as a pipeline meets them. The experiment scores every run on them too, as a check of
how it generalizes (never for tuning).

    python scripts/patient_sentences.py assets/patients corpus/patients.jsonl --findings corpus/patients_findings.jsonl

`--findings` also writes the authored labels as `annotate` writes findings (note, patient, date,
sentence, label, score 1.0): the progression a perfect classifier would give, to compare with.
"""
from pathlib import Path
from typing import Optional

import srsly
import typer
from wasabi import msg

from ad_signs.annotate import parse_date
from ad_signs.atomic import replaced_when_done
from ad_signs.sentences import split_sentences


def main(folder: Path = typer.Argument(..., exists=True, file_okay=False), output: Path = typer.Argument(...),
         findings: Optional[Path] = typer.Option(None, help="Also write the authored labels as findings (JSONL)")):
    labels = {}
    for row in srsly.read_jsonl(folder / "findings_gold.jsonl"):
        labels[(row["note_id"], " ".join(row["sentence"].split()))] = row["labels"]
    rows, found, gold_findings = [], set(), []
    for note in srsly.read_jsonl(folder / "notes.jsonl"):
        for i, (start, end) in enumerate(split_sentences(note["text"])):
            text = " ".join(note["text"][start:end].split())
            if not text:
                continue
            key = (note["note_id"], text)
            found.add(key)
            rows.append({"text": text, "labels": labels.get(key, []), "note_id": note["note_id"], "note_type": note.get("category")})
            gold_findings += [{"note_id": note["note_id"], "patient_id": note["patient_id"], "note_date": parse_date(note.get("chart_date")),
                               "sentence": i, "start": start, "end": end, "text": text, "label": label, "score": 1.0}
                              for label in labels.get(key, [])]
    missing = sorted(set(labels) - found)
    if missing:
        msg.fail(f"{len(missing)} labelled sentences are not sentences of their note as the splitter cuts it, e.g. {missing[0]}.", exits=1)
    with replaced_when_done(output) as partial:
        srsly.write_jsonl(partial, rows)
    if findings:
        with replaced_when_done(findings) as partial:
            srsly.write_jsonl(partial, gold_findings)
    msg.good(f"{len(rows)} sentences ({sum(bool(r['labels']) for r in rows)} labelled) -> {output}")


if __name__ == "__main__":
    typer.run(main)
