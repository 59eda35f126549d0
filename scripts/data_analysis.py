"""The paper's data analysis for gold, silver and bronze: size, label distribution, sentence
length, vocabulary and distinct-n diversity, duplicates, overlap with the gold test split
(leakage: must be 0); how noisy silver is (the LLM's labels of gold dev against the gold
labels); how many bronze sentences a second, data-to-label pass agrees with; how much cleaner
silver is where the gold-only judge agrees with the LLM (on gold test sentences, which neither the
judge nor the LLM's thresholds were chosen on: measured, never tuned on).

    python scripts/data_analysis.py corpus metrics/data.json --silver corpus/silver.spacy \
        --bronze corpus/bronze.spacy --filtered corpus/bronze_filtered.spacy \
        --llm-dev metrics/llm_dev.json --bronze-relabel corpus/bronze_relabel.spacy \
        --judge training/judge/model-best --llm-test corpus/llm_test.spacy
"""
import statistics
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

import srsly
import typer
from spacy.tokens import Doc
from wasabi import msg

from ad_signs.atomic import write_json
from ad_signs.filters import FilterReport, agree_with_judge, is_positive, remove_unconfident_labels, roundtrip_agrees
from ad_signs.metrics import NO_LABEL, label_set, score_label_sets
from ad_signs.readers import read_docs
from ad_signs.taxonomy import load_taxonomy
from ad_signs.text import distinct_n, distinct_n_at, lower_tokens, normalize

DISTINCT_AT = 300  # distinct-n falls as a set grows: datasets also compare at this many sentences

GOLD = {"gold train": "train", "gold dev": "dev", "gold test": "test"}


def describe(docs: List[Doc], test_texts: set, labels: List[str]) -> Dict:
    tokens = [lower_tokens(doc) for doc in docs]
    lengths = [len(t) for t in tokens]
    normalized = [normalize(doc.text) for doc in docs]
    label_counts = Counter(label for doc in docs for label in (label_set(doc) or {NO_LABEL}))
    return {
        "sentences": len(docs),
        "labels": {label: label_counts.get(label, 0) for label in [*labels, NO_LABEL]},
        "labels_per_sentence": sum(len(label_set(doc)) for doc in docs) / len(docs) if docs else 0.0,
        "tokens_mean": statistics.mean(lengths) if lengths else 0.0,
        "tokens_median": statistics.median(lengths) if lengths else 0.0,
        "lengths": lengths,
        "vocabulary": len({t for ts in tokens for t in ts if t.isalpha()}),
        "distinct_1": distinct_n(tokens, 1),
        "distinct_2": distinct_n(tokens, 2),
        f"distinct_2_at_{DISTINCT_AT}": distinct_n_at(tokens, 2, DISTINCT_AT),
        "duplicate_rate": 1 - len(set(normalized)) / len(normalized) if normalized else 0.0,
        "in_gold_test": sum(text in test_texts for text in normalized),
    }


def bronze_agreement(bronze: List[Doc], relabelled: List[Doc]) -> Dict:
    """Positives: the relabel pass gives the intended label. Hard negatives (negated,
    hypothetical, family history of label X): it does not give X."""
    again = {doc.text: label_set(doc) for doc in relabelled}
    per_kind: Dict[str, List[bool]] = {}
    for doc in bronze:
        agrees = roundtrip_agrees(doc, again)
        if agrees is None:
            continue
        positive = is_positive(doc)
        per_kind.setdefault("positive" if positive else "hard negative", []).append(agrees)
    out = {kind: {"checked": len(v), "agree": sum(v), "rate": sum(v) / len(v)} for kind, v in per_kind.items()}
    checked = sum(len(v) for v in per_kind.values())
    out["all"] = {"checked": checked, "agree": sum(sum(v) for v in per_kind.values()),
                  "rate": sum(sum(v) for v in per_kind.values()) / checked if checked else 0.0}
    out["not_relabelled"] = len(bronze) - checked  # rejected answers in the second pass
    return out


def confidence_of_choices(silver: List[Doc]) -> Dict:
    """The labeling LLM's confidence (choice decoding) in the labels it chose and in those it did
    not, over silver: if the two are alike, the raw values are no probabilities to train on
    (`filter --soft`); only thresholds chosen per label on gold dev separate them."""
    from ad_signs.llm.label_task import CONFIDENCE_KEY

    chosen, other = [], []
    for doc in silver:
        confidence = doc.user_data.get(CONFIDENCE_KEY)
        if confidence is None:
            continue
        labels = label_set(doc)
        for label, value in confidence.items():
            (chosen if label in labels else other).append(value)
    mean = lambda values: statistics.mean(values) if values else None  # noqa: E731
    return {"chosen": {"labels": len(chosen), "mean": mean(chosen)},
            "not_chosen": {"labels": len(other), "mean": mean(other),
                           "at_least_0_5": sum(v >= 0.5 for v in other) / len(other) if other else None}}


def judge_agreement(llm_docs: List[Doc], gold_docs: List[Doc], thresholds: Dict[str, float], judge, labels: List[str]) -> Dict:
    """Silver's noise with and without the judge, on gold sentences the LLM labelled: the LLM's
    labels (above their confidence thresholds, as the filter keeps them) against gold, over all
    sentences and over those where the judge's label set equals the LLM's (what silver keeps)."""
    gold = {doc.text: label_set(doc) for doc in gold_docs}
    llm_docs = [doc for doc in llm_docs if doc.text in gold]
    for doc in llm_docs:
        remove_unconfident_labels(doc, thresholds, FilterReport())
    kept = {doc.text for doc in agree_with_judge(llm_docs, judge)[0]}

    def scores(docs: List[Doc]) -> Dict:
        truth, predicted = [gold[doc.text] for doc in docs], [label_set(doc) for doc in docs]
        metrics = score_label_sets(truth, predicted, labels)
        return {"sentences": len(docs), "micro": metrics["micro"], "macro_f": metrics["macro_f"],
                "exact_match": sum(t == p for t, p in zip(truth, predicted)) / len(docs) if docs else None}

    return {"all": scores(llm_docs), "judge_agrees": scores([doc for doc in llm_docs if doc.text in kept])}


def main(
    corpus: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder with the gold train/dev/test .spacy"),
    output: Path = typer.Argument(..., help="JSON to write"),
    silver: Path = typer.Option(..., exists=True, dir_okay=False, help="Silver DocBin"),
    bronze: Path = typer.Option(..., exists=True, dir_okay=False, help="Bronze DocBin, as generated"),
    filtered: List[Path] = typer.Option([], exists=True, dir_okay=False, help="Filtered silver/bronze DocBins, analysed too (repeatable)"),
    llm_dev: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="Metrics of the LLM's labels of gold dev (`evaluate`)"),
    bronze_relabel: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="Bronze labelled again by the data-to-label LLM"),
    judge: Optional[Path] = typer.Option(None, exists=True, file_okay=False, help="The gold-only judge of silver (`filter --agree-with`)"),
    llm_test: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="The LLM's labels of gold test (with --judge and --llm-dev)"),
):
    labels = load_taxonomy().labels

    paths = {**{name: corpus / f"{stem}.spacy" for name, stem in GOLD.items()}, "silver": silver, "bronze": bronze}
    if (corpus / "dev_all.spacy").exists():  # the dev the experiment chooses thresholds on: gold dev + authored notes
        paths["dev (gold + notes)"] = corpus / "dev_all.spacy"
    paths.update({path.stem.replace("_", " "): path for path in filtered})
    docs = {name: read_docs(path) for name, path in paths.items()}
    test_texts = {normalize(doc.text) for doc in docs["gold test"]}
    stats = {name: describe(d, test_texts, labels) for name, d in docs.items()}
    stats["gold test"]["in_gold_test"] = None  # itself
    result = {"datasets": stats}
    if llm_dev:
        scores = srsly.read_json(llm_dev)
        result["silver_noise"] = {"on": "gold dev", "micro_f": scores["micro_f"], "macro_f": scores["macro_f"],
                                  "binary": scores["binary"], "per_label_f": {k: v["f"] for k, v in scores["per_label"].items()},
                                  "missing": scores.get("missing", 0)}
        if "confidence" in scores:  # labels kept above the per-label confidence thresholds chosen on dev
            kept = scores["confidence"]["at_thresholds"]
            result["silver_noise"]["confidence"] = {"thresholds": scores["confidence"]["thresholds"],
                                                    "micro_p": scores["micro"]["p"], "micro_p_kept": kept["micro"]["p"],
                                                    "micro_r": scores["micro"]["r"], "micro_r_kept": kept["micro"]["r"],
                                                    "macro_f_kept": kept["macro_f"]}
        if judge and llm_test:
            import spacy

            result["silver_noise"]["judge"] = {"on": "gold test", "judge": str(judge), **judge_agreement(
                read_docs(llm_test), docs["gold test"], scores.get("confidence", {}).get("thresholds", {}), spacy.load(judge), labels)}
    result["silver_confidence"] = confidence_of_choices(docs["silver"])
    result["filters"] = {path.stem: srsly.read_json(path.with_suffix(".filter.json"))
                         for path in filtered if path.with_suffix(".filter.json").exists()}
    if bronze_relabel:
        result["bronze_agreement"] = bronze_agreement(docs["bronze"], read_docs(bronze_relabel))
    output.parent.mkdir(parents=True, exist_ok=True)
    write_json(output, result)
    rows = [(name, s["sentences"], f"{s['tokens_mean']:.1f}", s["vocabulary"], f"{s['distinct_2']:.2f}",
             f"{s['duplicate_rate']:.1%}", "" if s["in_gold_test"] is None else s["in_gold_test"])
            for name, s in stats.items()]
    msg.table(rows, header=("dataset", "sentences", "tokens", "vocab", "distinct-2", "duplicates", "in test"), divider=True)
    msg.good(f"-> {output}")


if __name__ == "__main__":
    typer.run(main)
