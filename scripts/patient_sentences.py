"""The authored patients' notes (assets/patients/) as gold sentences: every sentence the clinical
splitter cuts from the notes, with the labels of `findings_gold.jsonl` (none for the others).

Whole notes by another author than the gold splits: headings, med lists and vitals among the
findings, as a pipeline meets them. The experiment scores every run on them too, as a check of
how it generalizes (never for tuning).

    python scripts/patient_sentences.py assets/patients corpus/patients.jsonl
"""
from pathlib import Path

import srsly
import typer
from wasabi import msg

from ad_signs.atomic import replaced_when_done
from ad_signs.sentences import split_sentences


def main(folder: Path = typer.Argument(..., exists=True, file_okay=False), output: Path = typer.Argument(...)):
    labels = {}
    for row in srsly.read_jsonl(folder / "findings_gold.jsonl"):
        labels[(row["note_id"], " ".join(row["sentence"].split()))] = row["labels"]
    rows, found = [], set()
    for note in srsly.read_jsonl(folder / "notes.jsonl"):
        for start, end in split_sentences(note["text"]):
            text = " ".join(note["text"][start:end].split())
            if not text:
                continue
            key = (note["note_id"], text)
            found.add(key)
            rows.append({"text": text, "labels": labels.get(key, []), "note_id": note["note_id"], "note_type": note.get("category")})
    missing = sorted(set(labels) - found)
    if missing:
        msg.fail(f"{len(missing)} labelled sentences are not sentences of their note as the splitter cuts it, e.g. {missing[0]}.", exits=1)
    with replaced_when_done(output) as partial:
        srsly.write_jsonl(partial, rows)
    msg.good(f"{len(rows)} sentences ({sum(bool(r['labels']) for r in rows)} labelled) -> {output}")


if __name__ == "__main__":
    typer.run(main)
