"""Privacy check of LLM-made data, per dataset: sentences with identifier-like strings (names,
dates, phones, record numbers, addresses, e-mails, SSNs), MIMIC placeholders (a sign of text
copied from de-identified notes), and memorization: the longest run of words a sentence shares
with the references (the notes the LLM saw, the gold sentences).

    python scripts/privacy_check.py metrics/privacy.json \
        --dataset silver=corpus/silver.spacy --dataset bronze=corpus/bronze.spacy \
        --reference corpus/train.spacy --reference corpus/dev.spacy --reference corpus/test.spacy \
        --source silver=assets/notes/sample_notes.jsonl

Which references a dataset is compared with: every --reference, and every --source except its
own. `--source silver=NOTES` says silver was cut from NOTES: its sentences are in NOTES by
construction, so silver is checked against gold only, while bronze is checked against NOTES
and gold (a long shared run there means the LLM reproduced text it saw). A path given both as
--reference and as a dataset's --source is a source for that dataset all the same.

Datasets and references: .spacy DocBins (one text per doc) or notes in any format
`ad_signs.readers.read_records` reads (.jsonl, .csv, .txt, ...; one text per record).
"""
from pathlib import Path
from typing import Dict, List, Tuple

import typer
from wasabi import msg

from ad_signs.atomic import write_json
from ad_signs.privacy import MEMORIZED_WORDS, NgramIndex, privacy_report
from ad_signs.readers import read_records


def read_texts(path: Path) -> List[str]:
    """The texts of a DocBin's docs, or of the notes in any format `read_records` reads."""
    return [record.text for record in read_records(path)]


def name_path(value: str, option: str) -> Tuple[str, Path]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise typer.BadParameter(f"expected NAME=PATH, got '{value}'", param_hint=option)
    return name, Path(path)


def main(
    output: Path = typer.Argument(..., help="JSON to write"),
    dataset: List[str] = typer.Option(..., help="NAME=PATH of a dataset to check (repeatable)"),
    reference: List[Path] = typer.Option([], exists=True, help="Reference for every dataset: notes or gold (repeatable)"),
    source: List[str] = typer.Option([], help="NAME=PATH: the notes dataset NAME was made from; a reference for the other datasets only (repeatable)"),
):
    datasets = dict(name_path(value, "--dataset") for value in dataset)
    sources: Dict[str, List[Path]] = {}
    for value in source:
        name, path = name_path(value, "--source")
        if name not in datasets:
            raise typer.BadParameter(f"no --dataset named '{name}'", param_hint="--source")
        sources.setdefault(name, []).append(path)
    paths = list(dict.fromkeys([*reference, *(p for ps in sources.values() for p in ps)]))
    for path in [*datasets.values(), *paths]:
        if not path.exists():
            raise typer.BadParameter(f"not found: {path}")
    texts = {path: read_texts(path) for path in paths}
    result: Dict = {"threshold": MEMORIZED_WORDS, "references": {str(p): len(t) for p, t in texts.items()}, "datasets": {}}
    indexes: Dict[Tuple[Path, ...], NgramIndex] = {}
    for name, path in datasets.items():
        own = {p.resolve() for p in sources.get(name, [])}
        against = tuple(p for p in paths if p.resolve() not in own)
        if against not in indexes:
            indexes[against] = NgramIndex(text for p in against for text in texts[p])
        report = privacy_report(read_texts(path), indexes[against])
        report["memorization"]["against"] = [str(p) for p in against]
        result["datasets"][name] = report
    output.parent.mkdir(parents=True, exist_ok=True)
    write_json(output, result)

    rows = []
    for name, r in result["datasets"].items():
        ids, mem = r["identifiers"], r["memorization"]
        kinds = ", ".join(f"{kind} {n}" for kind, n in ids["kinds"].items() if n) or "-"
        rows.append((name, r["sentences"], f"{ids['sentences']} ({ids['share']:.1%})", kinds, r["placeholders"]["count"],
                     mem["max"], mem["p99"], f"{mem['mean']:.1f}", f"{mem['sentences']} ({mem['share']:.1%})",
                     ", ".join(Path(p).stem for p in mem["against"])))
    msg.table(rows, header=("dataset", "sentences", "identifiers", "kinds", "placeholders", "shared max", "p99",
                            "mean", f">= {MEMORIZED_WORDS} words", "against"), divider=True)
    for name, r in result["datasets"].items():
        for example in r["identifiers"]["examples"][:3]:
            msg.warn(f"{name}: {example['kind']} '{example['text']}' in: {example['context']}")
        for example in r["memorization"]["examples"][:3]:
            msg.warn(f"{name}: {example['length']} words shared: '{example['shared']}'")
        if r["memorization"]["share"] >= 0.5:
            msg.info(f"{name}: most sentences are in the references; if it was cut from one, say so: --source {name}=PATH")
    msg.good(f"-> {output}")


if __name__ == "__main__":
    typer.run(main)
