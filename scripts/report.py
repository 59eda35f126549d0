"""Write reports/README.md and its plots from what the run measured (no number is typed in):
the regime table (mean ± std over seeds, paired bootstrap against gold only), per-label F1, the
binary view, the amount curve, the LLM as a classifier, and the data analysis.

    python scripts/report.py metrics reports
"""
from pathlib import Path
from typing import Dict, List, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import srsly  # noqa: E402
import typer  # noqa: E402
from wasabi import msg  # noqa: E402

from ad_signs.atomic import save_figure, write_json, write_text  # noqa: E402

MAIN_REGIMES = ["gold", "silver", "bronze", "gold_silver", "gold_bronze", "gold_silver_bronze"]
NAMES = {"gold": "gold", "silver": "silver only", "bronze": "bronze only", "gold_silver": "gold + silver",
         "gold_bronze": "gold + bronze", "gold_silver_bronze": "gold + silver + bronze",
         "gold_bronze_unfiltered": "gold + bronze before the filters", "scarce_gold": "scarce gold (round 1 only)",
         "scarce_gold_silver_bronze": "scarce gold + silver + bronze"}


def table(header: List[str], rows: List[List]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def pm(stat: Dict) -> str:
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def curve_points(experiment: Dict) -> List[tuple]:
    regimes = experiment["regimes"]
    points = [(0, regimes["gold"]["macro_f"])]
    points += [(a, regimes[f"gold_silver_bronze_{a}pct"]["macro_f"]) for a in experiment["amounts"]]
    points.append((100, regimes["gold_silver_bronze"]["macro_f"]))
    return sorted(points, key=lambda p: p[0])


def save(fig, ax, title: str, ylabel: str, path: Path, legend_columns: int = 1) -> None:
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, ncol=legend_columns)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def grouped_bars(series: Dict[str, List[float]], ticks: List[str], title: str, ylabel: str, path: Path,
                 legend_columns: int = 1) -> None:
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        ax.bar([x + i * width for x in range(len(ticks))], values, width, label=name)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(ticks))])
    ax.set_xticklabels(ticks, rotation=30, ha="right", fontsize=8)
    save(fig, ax, title, ylabel, path, legend_columns)


def plot_per_label(experiment: Dict, rare: List[str], path: Path) -> None:
    labels, regimes = experiment["labels"], experiment["regimes"]
    series = {NAMES[r]: [regimes[r]["per_label"][label]["f"] for label in labels] for r in MAIN_REGIMES}
    grouped_bars(series, [f"{label}{' *' if label in rare else ''}" for label in labels],
                 "Per-label F1 by training regime (* rare in gold train)", "F1 on gold test (mean over seeds)", path, 3)


def plot_labels(data: Dict, path: Path) -> None:
    datasets = data["datasets"]
    labels = list(next(iter(datasets.values()))["labels"])
    series = {f"{name} ({s['sentences']})": [s["labels"][label] / s["sentences"] for label in labels]
              for name, s in datasets.items()}
    grouped_bars(series, labels, "Label distribution per dataset", "share of sentences", path)


def plot_curve(experiment: Dict, path: Path) -> None:
    points = curve_points(experiment)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.errorbar([p[0] for p in points], [p[1]["mean"] for p in points], yerr=[p[1]["std"] for p in points],
                marker="o", capsize=4, label="gold + silver + bronze")
    ax.set_xlabel("% of silver and bronze added to gold")
    save(fig, ax, "How much synthetic data helps", "macro F1 on gold test", path)


def plot_lengths(data: Dict, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, stats in data["datasets"].items():
        ax.hist(stats["lengths"], bins=range(0, 80, 3), histtype="step", density=True, label=name)
    ax.set_xlabel("tokens per sentence")
    save(fig, ax, "Sentence length", "density", path)


def arch_name(summary: Dict, arch: str) -> str:
    return f"{arch} (`{Path(summary['architectures'][arch]['config']).name}`)"


def interval(stat: Dict) -> str:
    i = stat["interval"]
    return f"{stat['mean']:.3f} ± {stat['std']:.3f} [{i['ci_low']:.3f}, {i['ci_high']:.3f}]"


def architecture_lines(experiment: Dict, rare: List[str], llm: Dict) -> List[str]:
    """Architectures x regimes side by side, and which pipeline was packaged and why."""
    labels = experiment["labels"]
    rows = []
    for arch, a in experiment["architectures"].items():
        speed = a["speed"]
        for regime, s in a["regimes"].items():
            vs = s.get("vs_gold")
            rows.append([arch, NAMES.get(regime, regime), s["train_docs"], f"{s['dev_macro_f']['mean']:.3f}", interval(s["macro_f"]),
                         f"{s['micro_f']['mean']:.3f}", f"{s['binary_f']['mean']:.3f}",
                         f"{sum(s['per_label'][label]['f'] for label in rare) / max(len(rare), 1):.3f}",
                         f"{min(s['per_label'][label]['f'] for label in labels):.2f}", f"{s['brier']['mean']:.3f}",
                         f"{vs['mean_diff']:+.3f} [{vs['ci_low']:+.3f}, {vs['ci_high']:+.3f}]" if vs else "—",
                         f"{speed['sentences_per_second']:,.0f}", f"{speed['words_per_second']:,.0f}",
                         f"{speed['model_mb']:.0f}", f"{speed['peak_rss_mb']:.0f}"])
    rows.append(["LLM few-shot", "(no training)", "—", "—", f"{llm['macro_f']:.3f}", f"{llm['micro_f']:.3f}", f"{llm['binary']['f']:.3f}",
                 f"{sum(llm['per_label'][label]['f'] for label in rare) / max(len(rare), 1):.3f}",
                 f"{min(llm['per_label'][label]['f'] for label in labels):.2f}", "—", "—", "", "", "", ""])
    chosen = experiment["packages"]
    default = chosen["en_ad_signs"]
    lines = ["## Architectures", "",
             f"Every architecture with its decision thresholds chosen on {dev_phrase(experiment)} (the `f1` operating point); the default "
             f"architecture (`{experiment['default_architecture']}`) on every regime, the others on gold only and on the "
             f"default's best augmented regime on dev (**{NAMES.get(experiment['best_augmented'], experiment['best_augmented'])}**). "
             f"Test macro F1: mean ± std over {experiment['seeds']} seeds [95 % interval, bootstrap over test sentences "
             "and seeds]; Δ: the same bootstrap, paired, against the architecture's own gold-only runs. Speed: the gold "
             "test sentences on 1 process; peak RSS: loading the pipeline and annotating 20 notes in a fresh process of the "
             "project's environment, where thinc also imports PyTorch (installed for `train_trf.cfg`): an installed "
             "pipeline in a fresh venv needs less (`metrics/benchmarks/pipeline_speed*.json`).", "",
             table(["architecture", "training data", "train sentences", "dev macro F1", "test macro F1", "micro F1", "binary F1",
                    "rare-label F1", "worst label F1", "Brier", "Δ macro F1 vs gold [95 % CI]", "sentences/s", "words/s", "MB",
                    "peak RSS MB"], rows), "",
             f"**Packaged as `en_ad_signs`** (the default): {arch_name(experiment, default['architecture'])} on "
             f"{NAMES.get(default['regime'], default['regime'])}, the best dev macro F1 ({default['dev_macro_f']:.3f}) among the "
             + (f"architectures that reach {default['speed_floor']:,.0f} sentences/s on 1 process." if default.get("floor_reached", True)
                else f"regimes of the fastest architecture: none reached {default['speed_floor']:,.0f} sentences/s on 1 process in this run.")]
    if "en_ad_signs_trf" in chosen:
        trf = chosen["en_ad_signs_trf"]
        lines += [f"**Packaged as `en_ad_signs_trf`** (accurate): {arch_name(experiment, trf['architecture'])} on "
                  f"{NAMES.get(trf['regime'], trf['regime'])} (dev macro F1 {trf['dev_macro_f']:.3f})."]
    return lines + [""]


def dev_phrase(experiment: Dict) -> str:
    """Which dev set the experiment chose on (thresholds, epochs, regimes, packages)."""
    return f"dev (`{experiment['sources']['dev']}`, {experiment['dev_docs']:,} sentences)"


def decision_lines(experiment: Dict, runs: Path, output: Path) -> List[str]:
    """The packaged default's operating points on gold test, precision-recall per label and calibration."""
    import numpy as np

    from ad_signs.calibration import expected_calibration_error, pr_curve, reliability

    choice = experiment["packages"]["en_ad_signs"]
    run = srsly.read_json(runs / f"{choice['architecture']}-{choice['regime']}-seed{choice['seed']}.json")
    labels, points = experiment["labels"], run["operating_points"]
    scores = np.array(run["test"]["scores"])
    gold = np.array(run["test"]["gold"], dtype=bool)
    rows = []
    fig, axes = plt.subplots(3, 3, figsize=(11, 9))
    for j, (label, ax) in enumerate(zip(labels, axes.ravel())):
        curve = pr_curve(scores[:, j], gold[:, j])
        ax.plot(curve["recall"], curve["precision"], marker=".", lw=1)
        cells = [label]
        for name, marker in (("f1", "o"), ("screening", "s")):
            t = points[name][label]
            decided = scores[:, j] >= t
            tp = int((decided & gold[:, j]).sum())
            p, r = tp / max(decided.sum(), 1), tp / max(gold[:, j].sum(), 1)
            ax.plot([r], [p], marker, ms=8, label=f"{name} ({t:.2f})")
            cells += [f"{t:.2f}", f"{p:.2f}", f"{r:.2f}"]
        rows.append(cells)
        ax.set_title(label, fontsize=8)
        ax.set_xlim(0, 1.02), ax.set_ylim(0, 1.02)
        ax.legend(fontsize=6)
    fig.supxlabel("recall (gold test)"), fig.supylabel("precision")
    fig.tight_layout()
    save_figure(fig, output / "precision_recall.png", dpi=100)
    plt.close(fig)
    bins = reliability(scores, gold)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    used = [b for b in bins if b["n"]]
    ax.plot([0, 1], [0, 1], ls="--", color="grey")
    ax.plot([b["mean_score"] for b in used], [b["positive_share"] for b in used], marker="o")
    ax.set_xlabel("mean score in bin")
    ax.set_ylabel("share of true labels")
    ax.set_title("Reliability (gold test, every sentence x label)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, output / "reliability.png", dpi=100)
    plt.close(fig)
    ones = float((scores >= 0.995).mean())
    return ["## Decisions and calibration (`en_ad_signs`)", "",
            f"Thresholds chosen on {dev_phrase(experiment)}, one per label: `f1` (the default) maximises dev F1; `screening` keeps dev "
            "recall at 0.9 or more. Precision and recall here are on gold test:", "",
            table(["label", "f1 threshold", "P", "R", "screening threshold", "P", "R"], rows), "",
            "![precision-recall per label](precision_recall.png) ![reliability](reliability.png)", "",
            f"Calibration on gold test: Brier score {run['test']['brier']:.3f}, expected calibration error "
            f"{expected_calibration_error(bins):.3f}; {ones:.1%} of the (sentence, label) scores are 0.995 or more.", ""]


def headline(experiment: Dict, llm: Dict) -> Dict:
    """reports/summary.json: the report's headline figures as data, to compare across commits."""
    def figures(s: Dict) -> Dict:
        return {"macro_f": s["macro_f"]["mean"], "micro_f": s["micro_f"]["mean"], "binary_f": s["binary_f"]["mean"],
                "dev_macro_f": s["dev_macro_f"]["mean"], "per_label_f": {k: v["f"] for k, v in s["per_label"].items()},
                **{name: s[name] for name in ("vs_gold", "vs_scarce_gold") if name in s}}

    return {"architectures": {arch: {"sentences_per_second": a["speed"]["sentences_per_second"],
                                     "regimes": {r: figures(s) for r, s in a["regimes"].items()}}
                              for arch, a in experiment["architectures"].items()},
            "llm_few_shot": {"macro_f": llm["macro_f"], "micro_f": llm["micro_f"], "binary_f": llm["binary"]["f"]},
            "packages": {name: {k: c[k] for k in ("architecture", "regime", "seed")} for name, c in experiment["packages"].items()},
            "default_package": "en_ad_signs"}


def findings(model: Path, notes: Path, n: int, output: Path) -> List[str]:
    """The trained pipeline on the first `n` sample notes: displaCy page + a Markdown table."""
    import spacy
    from spacy import displacy

    from ad_signs.readers import read_records

    nlp = spacy.load(model)
    docs = [nlp(record.text) for record, _ in zip(read_records(notes), range(n))]
    key = nlp.get_pipe("ad_signs").spans_key
    page = displacy.render(docs, style="span", page=True, options={"spans_key": key})
    write_text(output / "findings.html", page)
    rows = [[i + 1, span.text.replace("|", "/").replace("\n", " "), span.label_, f"{score:.2f}"]
            for i, doc in enumerate(docs) for span, score in zip(doc.spans[key], doc.spans[key].attrs["scores"])]
    return [f"The packaged regime on the first {n} sample notes: [findings.html](findings.html) (displaCy).", "",
            table(["note", "sentence", "label", "score"], rows), ""]


def benchmark_lines(folder: Path, generation: Optional[Path] = None) -> List[str]:
    """The `benchmark` step's results: pipeline speed and memory, LLM labeling settings, cost;
    and the generation rate of this run's bronze step."""
    if not (folder / "pipeline_speed.json").exists():
        return []
    speed, llm, cost = (srsly.read_json(folder / f"{name}.json") for name in ("pipeline_speed", "llm_speed", "cost_estimate"))
    lines = ["## Speed and scale (`weasel run benchmark`)", "",
             f"The packaged pipeline on {speed['notes']} notes (the sample notes, repeated), in one run against the floor of any spaCy "
             "pipeline on this text (the bare tokenizer + the same sentence splitter):", "",
             table(["run", "sentences", "sentences/s", "words/s", "share of bare"],
                   [[name, r["sentences"], f"{r['sentences_per_second']:,.0f}", f"{r['words_per_second']:,.0f}",
                     f"{r['share_of_bare']:.2f}"] for name, r in speed["runs"].items()]), "",
             table([f"fresh process ({speed['memory_measured_in']})", "load s", "peak RSS MB"],
                   [[name, f"{m['load_seconds']:.2f}", f"{m['peak_rss_mb']:.0f}"] for name, m in speed["memory"].items()]), "",
             f"LLM labeling settings on the same {llm['runs']['1 per prompt, prefix reuse']['sentences']} gold dev "
             f"sentences ({llm['model']}, {llm['decoding']} decoding):", "",
             table(["setting", "sentences", "s/sentence", "time vs default", "rejects", "macro F1", "binary F1"],
                   [[name, r["sentences"], f"{r['seconds_per_sentence']:.2f}", f"{r['time_vs_default']:.2f}x", r["rejects"],
                     f"{r['macro_f']:.3f}", f"{r['binary_f']:.3f}"] for name, r in llm["runs"].items()]), "",
             f"The label config answers with the setting `{llm.get('config_setting', '1 per prompt, prefix reuse')}`; "
             "time is against one sentence at a time with the prompt prefix cached (the earlier default).", ""]
    if (folder / "llm_generation.json").exists():
        g = srsly.read_json(folder / "llm_generation.json")
        lines += [f"Label-to-data settings side by side in one run (`benchmarks/llm_generation.py`; gold train sentences "
                  f"average {g['gold_tokens_mean']:.1f} tokens; distinct-2 of {g.get('distinct_2_sentences', '?')} "
                  f"sentences drawn at random, gold train's {g.get('gold_distinct_2', float('nan')):.2f}):", "",
                  table(["setting", "in parallel", "temperature", "per prompt", "sentences", "sentences/minute", "vs default",
                         "tokens (vs gold)", "distinct-2", "markdown", "rejects"],
                        [[name, r["n_parallel"], r.get("temperature", "?"), r["sentences_per_prompt"], r["sentences"],
                          f"{r['sentences_per_minute']:.1f}",
                          f"{r['speed_vs_default']:.2f}", f"{r['tokens_mean']:.1f} ({r['tokens_vs_gold']:.2f})", f"{r['distinct_2']:.2f}",
                          f"{r['markdown_share']:.2f}", r["rejects"]] for name, r in g["runs"].items()]), ""]
    bronze = srsly.read_json(generation) if generation and generation.exists() else {}
    if bronze.get("llm_calls", {}).get("asked"):  # a rerun answered from the cache measures no speed
        lines += [f"Generation (label-to-data, this run's `bronze` step): {bronze['docs']} sentences from {bronze['items']} "
                  f"prompts in {bronze['seconds']:.0f} s, **{bronze['docs'] / bronze['seconds'] * 60:.1f} sentences per "
                  f"minute** ({bronze['rejects']} answers rejected).", ""]
    lines += [f"Labeling MIMIC-III: {cost['notes']:,} notes × {cost['sentences_per_note']:.1f} sentences per note "
              f"(counted on {cost['sentences_per_note_from']}; these short authored notes undercount real ones: "
              f"pass `--notes NOTEEVENTS.csv` to count on MIMIC) = {cost['sentences']:,.0f} sentences:", "",
              table(["who labels", "sentences/s", "per", "unit-hours", "days on 100 units", "USD (assumed prices)"],
                    [[name, f"{r['sentences_per_second']:,.2f}", r["unit"], f"{r['hours']:,.0f}",
                      f"{r['days_on_100_units']:,.2f}", f"{r['cost_usd']:,.2f}"] for name, r in cost["estimates"].items()]), "",
              "Assumed, not measured: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in cost["assumed"].items())
              + " (parameters of `benchmarks/cost_estimate.py`).", ""]
    return lines


def main(
    metrics: Path = typer.Argument(Path("metrics"), help="Folder with experiment/summary.json, data.json, llm_test.json"),
    output: Path = typer.Argument(Path("reports"), help="Folder for README.md and the PNG plots"),
    rare_count: int = typer.Option(4, "--rare", min=1, help="How many of the labels with the fewest gold train sentences are 'rare'"),
    model: Optional[Path] = typer.Option(None, help="A trained pipeline to show on sample notes"),
    notes: Path = typer.Option(Path("assets/notes/sample_notes.jsonl"), help="Notes for the findings example"),
    n_notes: int = typer.Option(3, help="How many notes to show"),
    llm_summary: Optional[Path] = typer.Option(None, help="Run summary of the LLM labeling gold sentences (its speed)"),
    generation_summary: Optional[Path] = typer.Option(None, help="Run summary of the bronze step (generation speed)"),
):
    experiment = srsly.read_json(metrics / "experiment" / "summary.json")
    package = experiment["packages"]["en_ad_signs"]
    package_regime = package["regime"]
    data = srsly.read_json(metrics / "data.json")
    llm = srsly.read_json(metrics / "llm_test.json")
    privacy = srsly.read_json(metrics / "privacy.json")
    regimes, labels = experiment["regimes"], experiment["labels"]
    train_counts = data["datasets"]["gold train"]["labels"]
    rare = sorted(labels, key=lambda label: (train_counts[label], labels.index(label)))[:rare_count]
    output.mkdir(parents=True, exist_ok=True)
    plot_per_label(experiment, rare, output / "per_label_f1.png")
    plot_curve(experiment, output / "amount_curve.png")
    plot_labels(data, output / "label_distribution.png")
    plot_lengths(data, output / "sentence_length.png")

    def rare_f(stats: Dict) -> float:
        return sum(stats["per_label"][label]["f"] for label in rare) / len(rare) if rare else 0.0

    rows = []
    external = list(regimes["gold"].get("external", {}))  # other test sets, by other authors (never tuned on)
    for regime in MAIN_REGIMES + [r for r in regimes if r not in MAIN_REGIMES]:
        s = regimes[regime]
        vs = s.get("vs_gold")
        rows.append([NAMES.get(regime, regime.replace("gold_silver_bronze_", "gold + silver + bronze, ").replace("pct", " %")),
                     s["train_docs"], pm(s["macro_f"]), pm(s["micro_f"]), pm(s["binary_f"]), f"{rare_f(s):.3f}",
                     f"{vs['mean_diff']:+.3f} [{vs['ci_low']:+.3f}, {vs['ci_high']:+.3f}], p = {vs['p_not_better']:.3f}" if vs else "—",
                     *[pm(s["external"][name]["macro_f"]) for name in external]])
    rows.append(["LLM few-shot (no training)", "—", f"{llm['macro_f']:.3f}", f"{llm['micro_f']:.3f}",
                 f"{llm['binary']['f']:.3f}", f"{sum(llm['per_label'][label]['f'] for label in rare) / max(len(rare), 1):.3f}", "—",
                 *["—" for _ in external]])
    best = max((r for r in regimes if r != "gold"), key=lambda r: regimes[r]["macro_f"]["mean"])
    gain = regimes[best]["vs_gold"]
    gsb = regimes["gold_silver_bronze"]
    verdict = (
        f"Best regime on macro F1: **{NAMES.get(best, best)}**, {gain['mean_diff']:+.3f} over gold only "
        f"(95 % bootstrap interval {gain['ci_low']:+.3f} to {gain['ci_high']:+.3f}; share of resamples where it is "
        f"not better: {gain['p_not_better']:.3f}). Gold + silver + bronze against gold only: macro F1 "
        f"{pm(gsb['macro_f'])} vs {pm(regimes['gold']['macro_f'])}; mean F1 on the rare labels "
        f"{rare_f(gsb):.3f} vs {rare_f(regimes['gold']):.3f}."
    )
    for name in external:  # the same question on sentences of another author, in whole notes
        parts = []
        for regime in ("gold_silver", "gold_bronze", "gold_silver_bronze"):
            vs = regimes[regime]["external"][name]["vs_gold"]
            parts.append(f"{NAMES.get(regime, regime)} {pm(regimes[regime]['external'][name]['macro_f'])} "
                         f"({vs['mean_diff']:+.3f} [{vs['ci_low']:+.3f}, {vs['ci_high']:+.3f}])")
        verdict += (f" On `{name}` (sentences of whole notes by another author, never tuned on), gold only scores "
                    f"{pm(regimes['gold']['external'][name]['macro_f'])} macro F1; " + "; ".join(parts) + ".")
    scarce = regimes.get("scarce_gold_silver_bronze", {}).get("vs_scarce_gold")
    if scarce:  # the paper's setting: gold is scarce
        base, augmented = regimes["scarce_gold"], regimes["scarce_gold_silver_bronze"]
        verdict += (
            f" With scarce gold ({base['train_docs']} sentences, round 1 only), silver + bronze add "
            f"{scarce['mean_diff']:+.3f} macro F1 (95 % interval {scarce['ci_low']:+.3f} to {scarce['ci_high']:+.3f}, "
            f"p = {scarce['p_not_better']:.3f}): {pm(augmented['macro_f'])} vs {pm(base['macro_f'])}; rare labels "
            f"{rare_f(augmented):.3f} vs {rare_f(base):.3f}."
        )
    per_label_rows = [[label + (" *" if label in rare else ""), train_counts[label],
                       *[f"{regimes[r]['per_label'][label]['f']:.2f}" for r in MAIN_REGIMES],
                       f"{llm['per_label'][label]['f']:.2f}"] for label in labels]
    binary_rows = [[NAMES[r], *[f"{regimes[r]['binary_f']['mean']:.3f}"]] for r in MAIN_REGIMES]
    binary_rows.append(["LLM few-shot", f"{llm['binary']['f']:.3f} (P {llm['binary']['p']:.2f}, R {llm['binary']['r']:.2f})"])
    speed_lines = []
    llm_run = srsly.read_json(llm_summary) if llm_summary else {}
    if llm_run.get("llm_calls", {}).get("asked"):  # a rerun answered from the cache measures no speed
        packaged = experiment["architectures"][package["architecture"]]["regimes"][package_regime]
        packaged = {**packaged, "sentences_per_second": experiment["architectures"][package["architecture"]]["speed"]["sentences_per_second"]}
        llm_rate = llm_run["llm_calls"]["asked"] / llm_run["seconds"]
        speed_lines = ["## Why train a classifier", "",
                       table(["on the gold test sentences", "sentences per second", "macro F1", "binary F1"],
                             [[f"en_ad_signs ({package['architecture']}, {NAMES.get(package_regime, package_regime)}, 1 process)",
                               f"{packaged['sentences_per_second']:.0f}", pm(packaged["macro_f"]), pm(packaged["binary_f"])],
                              ["the local LLM, few-shot", f"{llm_rate:.2f}", f"{llm['macro_f']:.3f}", f"{llm['binary']['f']:.3f}"]]), "",
                       f"The LLM's speed is that of its `llm_test` run over {llm_run['items']} of these gold test sentences ({llm_summary.name}).",
                       "", f"The classifier is {packaged['sentences_per_second'] / llm_rate:,.0f} times faster.", ""]
    stats = data["datasets"]
    data_rows = [[name, s["sentences"], f"{s['labels_per_sentence']:.2f}", f"{s['labels']['(none)'] / s['sentences']:.0%}",
                  f"{s['tokens_mean']:.1f}", s["vocabulary"], f"{s['distinct_1']:.2f}", f"{s['distinct_2']:.2f}",
                  f"{s.get('distinct_2_at_300', s['distinct_2']):.2f}", f"{s['duplicate_rate']:.1%}", "—" if s["in_gold_test"] is None else s["in_gold_test"]]
                 for name, s in stats.items()]
    lines = [
        "# Does LLM-made training data help? (generated by `weasel run report`)",
        "",
        f"Default architecture: `{experiment['config']}`, {experiment['seeds']} seeds per regime; "
        f"all scores on the gold test split ({data['datasets']['gold test']['sentences']} sentences). "
        f"Rare labels (*): the {len(rare)} with the fewest gold train sentences: "
        + ", ".join(f"{label} ({train_counts[label]})" for label in rare) + ".",
        "",
        verdict,
        "",
        *architecture_lines(experiment, rare, llm),
        *decision_lines(experiment, metrics / "experiment" / "runs", output),
        f"## Regimes ({experiment['default_architecture']}, the default architecture)",
        "",
        table(["regime", "train sentences", "macro F1", "micro F1", "binary F1", "rare-label F1", "vs gold only: Δ macro F1 [95 % CI], p",
               *[f"{name}: macro F1" for name in external]], rows),
        "",
        "Δ and p: paired bootstrap over test sentences, each regime averaged over its seeds; p is the share of resamples in which the regime is not better than gold only.",
        "",
        "![per-label F1](per_label_f1.png)",
        "",
        "## Per label (F1, mean over seeds)",
        "",
        table(["label", "gold train", *[NAMES[r] for r in MAIN_REGIMES], "LLM few-shot"], per_label_rows),
        "",
        "## Binary view (any AD label vs none)",
        "",
        table(["regime", "binary F1"], binary_rows),
        "",
        *speed_lines,
        "## How much synthetic data",
        "",
        table(["% of silver + bronze", "macro F1"], [[a, pm(s)] for a, s in curve_points(experiment)]),
        "",
        "![amount curve](amount_curve.png)",
        "",
        "Training data: " + ", ".join(f"{name} `{path}`" for name, path in experiment.get("sources", {}).items()) + ".",
        "",
        "## The data",
        "",
        table(["dataset", "sentences", "labels/sentence", "unlabelled", "tokens/sentence", "vocabulary", "distinct-1",
               "distinct-2", "distinct-2 of 300", "duplicates", "in gold test"], data_rows),
        "",
        "![label distribution](label_distribution.png) ![sentence length](sentence_length.png)",
        "",
    ]
    if "silver_noise" in data:
        noise = data["silver_noise"]
        lines += [f"**How noisy is silver?** The labeling LLM on gold dev: micro F1 {noise['micro_f']:.2f}, macro F1 "
                  f"{noise['macro_f']:.2f}, binary F1 {noise['binary']['f']:.2f} (P {noise['binary']['p']:.2f}, "
                  f"R {noise['binary']['r']:.2f}).", ""]
        if "confidence" in noise:
            c = noise["confidence"]
            lines += [f"**Silver's confidence thresholds** (per label, chosen on gold dev from the probabilities choice "
                      f"decoding reads where the answer branches): keeping only the labels given above them raises "
                      f"silver's precision on gold dev from {c['micro_p']:.2f} to {c['micro_p_kept']:.2f} (recall "
                      f"{c['micro_r']:.2f} to {c['micro_r_kept']:.2f}, macro F1 {noise['macro_f']:.2f} to "
                      f"{c['macro_f_kept']:.2f}). Thresholds: "
                      + ", ".join(f"{label} {t:.2f}" for label, t in c["thresholds"].items()) + ".", ""]
    if "bronze_agreement" in data:
        agreement = data["bronze_agreement"]
        parts = [f"{kind}: {v['agree']}/{v['checked']} ({v['rate']:.0%})" for kind, v in agreement.items() if isinstance(v, dict)]
        lines += [f"**Bronze, labelled again by the data-to-label LLM**, agrees with the label it was written for: "
                  f"{'; '.join(parts)}; not labelled (rejected answer): {agreement['not_relabelled']}.", ""]
    for name, counts in data.get("filters", {}).items():
        dropped = ", ".join(f"{k} {v}" for k, v in counts["dropped"].items()) or "none"
        removed = ", ".join(f"{k} {v}" for k, v in counts.get("labels_removed", {}).items() if v)
        lines += [f"**Filters on {name.replace('_filtered', '')}** ({', '.join(counts['filters']) or 'none'}): "
                  f"{counts['kept']} of {counts['seen']} kept; dropped by {dropped}."
                  + (f" Labels taken off below their confidence threshold: {removed}." if removed else ""), ""]
    privacy_rows = [[name, d["sentences"], f"{d['identifiers']['sentences']} ({d['identifiers']['share']:.1%})",
                     ", ".join(f"{k} {v}" for k, v in d["identifiers"]["kinds"].items() if v) or "—",
                     d["placeholders"]["count"], d["memorization"]["max"], f"{d['memorization']['mean']:.1f}",
                     d["memorization"]["sentences"], ", ".join(Path(a).name for a in d["memorization"]["against"])]
                    for name, d in privacy["datasets"].items()]
    lines += ["## Privacy", "",
              table(["dataset", "sentences", "with identifiers", "kinds", "placeholders", "longest shared run (words)",
                     "mean shared run", f">= {privacy['threshold']} words shared", "compared with"], privacy_rows), "",
              "Identifiers: names, dates, phone and record numbers, addresses, e-mails (`ad_signs.privacy`); "
              "placeholders are MIMIC-style `[** **]` de-identification marks. Silver is cut from the notes, so "
              "it is compared with gold only.", ""]
    lines += benchmark_lines(metrics / "benchmarks", generation_summary)
    if model:
        lines += ["## Findings on whole notes", ""] + findings(model, notes, n_notes, output)
    write_text(output / "README.md", "\n".join(lines))
    write_json(output / "summary.json", headline(experiment, llm))
    msg.good(f"{output / 'README.md'}, summary.json and 6 plots")


if __name__ == "__main__":
    typer.run(main)
