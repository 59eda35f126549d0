"""Write reports/README.md and its plots from what the run measured (no number is typed in):
the regime table (mean ± std over seeds, paired bootstrap against gold only), per-label F1, the
binary view, the amount curve, the LLM as a classifier, and the data analysis.

    python scripts/report.py metrics reports

The Markdown is the template templates/report.md.jinja, rendered from the dict `context` builds;
the functions here read the run's results, derive what the report needs and draw the plots.
"""
from pathlib import Path
from typing import Dict, List, Optional

import matplotlib

matplotlib.use("Agg")
import jinja2  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import srsly  # noqa: E402
import typer  # noqa: E402
from wasabi import msg  # noqa: E402

from ad_signs.atomic import save_figure, write_json, write_text  # noqa: E402

TEMPLATE = Path(__file__).parent / "templates" / "report.md.jinja"
MAIN_REGIMES = ["gold", "silver", "bronze", "gold_silver", "gold_bronze", "gold_silver_bronze"]
# The regimes' display names: the experiment's summary names each regime by its key only.
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
    series = {experiment["regime_names"][r]: [regimes[r]["per_label"][label]["f"] for label in labels] for r in MAIN_REGIMES}
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


def decisions(experiment: Dict, runs: Path, output: Path) -> Dict:
    """The packaged default's operating points on gold test: plots precision-recall per label and
    calibration, and returns the numbers the report's tables print."""
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
        row = {"label": label, "points": []}
        for name, marker in (("f1", "o"), ("screening", "s")):
            t = points[name][label]
            decided = scores[:, j] >= t
            tp = int((decided & gold[:, j]).sum())
            p, r = tp / max(decided.sum(), 1), tp / max(gold[:, j].sum(), 1)
            ax.plot([r], [p], marker, ms=8, label=f"{name} ({t:.2f})")
            row["points"].append({"threshold": t, "p": p, "r": r})
        rows.append(row)
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
    return {"rows": rows, "brier": run["test"]["brier"], "ece": expected_calibration_error(bins),
            "ones": float((scores >= 0.995).mean())}


def headline(experiment: Dict, llm: Dict) -> Dict:
    """reports/summary.json: the report's headline figures as data, to compare across commits."""
    def figures(s: Dict) -> Dict:
        return {"macro_f": s["macro_f"]["mean"], "micro_f": s["micro_f"]["mean"], "binary_f": s["binary_f"]["mean"],
                "dev_macro_f": s["dev_macro_f"]["mean"], "per_label_f": {k: v["f"] for k, v in s["per_label"].items()},
                "train_seconds": (s.get("train_seconds") or {}).get("mean"),
                **{name: s[name] for name in ("vs_gold", "vs_scarce_gold") if name in s}}

    return {"architectures": {arch: {"sentences_per_second": a["speed"]["sentences_per_second"],
                                     "regimes": {r: figures(s) for r, s in a["regimes"].items()}}
                              for arch, a in experiment["architectures"].items()},
            "llm_few_shot": {"macro_f": llm["macro_f"], "micro_f": llm["micro_f"], "binary_f": llm["binary"]["f"]},
            "packages": {name: {k: c[k] for k in ("architecture", "regime", "seed")} for name, c in experiment["packages"].items()},
            "default_package": "en_ad_signs"}


def findings(model: Path, notes: Path, n: int, output: Path) -> Dict:
    """The trained pipeline on the first `n` sample notes: writes the displaCy page, returns its spans."""
    import spacy
    from spacy import displacy

    from ad_signs.readers import read_records

    nlp = spacy.load(model)
    docs = [nlp(record.text) for record, _ in zip(read_records(notes), range(n))]
    key = nlp.get_pipe("ad_signs").spans_key
    page = displacy.render(docs, style="span", page=True, options={"spans_key": key})
    write_text(output / "findings.html", page)
    rows = [{"note": i + 1, "sentence": span.text.replace("|", "/").replace("\n", " "), "label": span.label_, "score": score}
            for i, doc in enumerate(docs) for span, score in zip(doc.spans[key], doc.spans[key].attrs["scores"])]
    return {"notes": n, "rows": rows}


def benchmarks(folder: Path, generation: Optional[Path] = None) -> Optional[Dict]:
    """The `benchmark` step's results (pipeline speed and memory, cost), the `benchmark_llm` step's if
    it was run (LLM labeling and label-to-data settings side by side) and the generation rate of this
    run's bronze step."""
    if not (folder / "pipeline_speed.json").exists():
        return None
    results = {name: srsly.read_json(folder / f"{name}.json") for name in ("pipeline_speed", "cost_estimate")}
    results["llm_speed"] = srsly.read_json(folder / "llm_speed.json") if (folder / "llm_speed.json").exists() else None
    settings = folder / "llm_generation.json"
    results["llm_generation"] = {"gold_distinct_2": float("nan"), **srsly.read_json(settings)} if settings.exists() else None
    bronze = srsly.read_json(generation) if generation and generation.exists() else {}
    calls = bronze.get("llm_calls", {})  # sentences from cached answers took no time: only a run asked throughout has a rate
    results["generation"] = {**bronze, "sentences_per_minute": bronze["docs"] / bronze["seconds"] * 60} if calls.get("asked") and not calls.get("cached") else None
    return results


def classifier_vs_llm(experiment: Dict, llm_run: Dict, summary_name: str) -> Optional[Dict]:
    """The packaged classifier against the LLM on the gold test sentences: speed and scores."""
    if not llm_run.get("llm_calls", {}).get("asked"):  # a rerun answered from the cache measures no speed
        return None
    choice = experiment["packages"]["en_ad_signs"]
    architecture = experiment["architectures"][choice["architecture"]]
    speed = architecture["speed"]["sentences_per_second"]
    llm_rate = llm_run["llm_calls"]["asked"] / llm_run["seconds"]
    return {"architecture": choice["architecture"], "regime": choice["regime"], "stats": architecture["regimes"][choice["regime"]],
            "sentences_per_second": speed, "llm_rate": llm_rate, "llm_items": llm_run["items"], "llm_summary": summary_name,
            "times_faster": speed / llm_rate}


def context(experiment: Dict, data: Dict, llm: Dict, privacy: Dict, rare: List[str], decisions: Dict,
            classifier_vs_llm: Optional[Dict] = None, benchmarks: Optional[Dict] = None,
            findings: Optional[Dict] = None) -> Dict:
    """What the template renders: the run's results as read, and what the report derives from them
    (the best regime, the scarce-gold comparison, the amount curve); optional sections are None."""
    regimes = experiment["regimes"]
    best = max((r for r in regimes if r != "gold"), key=lambda r: regimes[r]["macro_f"]["mean"])
    scarce = regimes.get("scarce_gold_silver_bronze", {}).get("vs_scarce_gold")  # the paper's setting: gold is scarce
    return {"experiment": experiment, "regimes": regimes, "data": data, "llm": llm, "privacy": privacy, "rare": rare,
            "train_counts": data["datasets"]["gold train"]["labels"], "main_regimes": MAIN_REGIMES,
            "regime_order": MAIN_REGIMES + [r for r in regimes if r not in MAIN_REGIMES], "best": best,
            # other test sets, by other authors (never tuned on), and the regimes compared on them
            "external": list(regimes["gold"].get("external", {})),
            "external_regimes": ["gold_silver", "gold_bronze", "gold_silver_bronze"],
            "scarce": {"vs": scarce, "base": regimes["scarce_gold"], "augmented": regimes["scarce_gold_silver_bronze"],
                       "own_judge": "scarce_bronze" in experiment.get("sources", {})} if scarce else None,
            "curve": curve_points(experiment), "decisions": decisions, "classifier_vs_llm": classifier_vs_llm,
            "benchmarks": benchmarks, "findings": findings}


@jinja2.pass_context
def regime_name(ctx, regime: str) -> str:
    """A regime's display name, as the experiment named it (summary.json `regime_names`)."""
    return ctx["experiment"]["regime_names"].get(regime, regime)


def fmt(value, spec: str) -> str:
    return format(value, spec)


def pm(stat: Dict) -> str:
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def interval(stat: Dict) -> str:
    i = stat["interval"]
    return f"{pm(stat)} [{i['ci_low']:.3f}, {i['ci_high']:.3f}]"


def diff(vs: Dict) -> str:
    """A paired bootstrap's difference with its 95 % interval."""
    return f"{vs['mean_diff']:+.3f} [{vs['ci_low']:+.3f}, {vs['ci_high']:+.3f}]"


def pairs(counts: Dict, nonzero: bool = False, spell: bool = False) -> str:
    """'key value, key value' (`nonzero`: without the zeros; `spell`: underscores in keys as spaces)."""
    return ", ".join(f"{k.replace('_', ' ') if spell else k} {v}" for k, v in counts.items() if v or not nonzero)


def paragraph(text: str) -> str:
    """The template's wrapped lines as one Markdown paragraph."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


@jinja2.pass_context
def rare_f(ctx, stats: Dict) -> float:
    """Mean F1 over the rare labels."""
    return sum(stats["per_label"][label]["f"] for label in ctx["rare"]) / len(ctx["rare"])


@jinja2.pass_context
def worst_f(ctx, stats: Dict) -> float:
    return min(stats["per_label"][label]["f"] for label in ctx["experiment"]["labels"])


@jinja2.pass_context
def arch_name(ctx, arch: str) -> str:
    return f"{arch} (`{Path(ctx['experiment']['architectures'][arch]['config']).name}`)"


def render(context: Dict, template: Path = TEMPLATE) -> str:
    """The report's Markdown, ending in one newline."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(template.parent), undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True)
    environment.filters.update(regime_name=regime_name, fmt=fmt, pm=pm, interval=interval, diff=diff, pairs=pairs,
                               paragraph=paragraph, filename=lambda path: Path(path).name, rare_f=rare_f, worst_f=worst_f,
                               arch_name=arch_name)
    return environment.get_template(template.name).render(context).rstrip("\n") + "\n"


def main(
    metrics: Path = typer.Argument(Path("metrics"), help="Folder with experiment/summary.json, data.json, llm_test.json"),
    output: Path = typer.Argument(Path("reports"), help="Folder for README.md and the PNG plots"),
    model: Optional[Path] = typer.Option(None, help="A trained pipeline to show on sample notes"),
    notes: Path = typer.Option(Path("assets/notes/sample_notes.jsonl"), help="Notes for the findings example"),
    n_notes: int = typer.Option(3, help="How many notes to show"),
    llm_summary: Optional[Path] = typer.Option(None, help="Run summary of the LLM labeling gold sentences (its speed)"),
    generation_summary: Optional[Path] = typer.Option(None, help="Run summary of the bronze step (generation speed)"),
):
    experiment = srsly.read_json(metrics / "experiment" / "summary.json")
    data = srsly.read_json(metrics / "data.json")
    llm = srsly.read_json(metrics / "llm_test.json")
    privacy = srsly.read_json(metrics / "privacy.json")
    rare = experiment["rare_labels"]  # the experiment's: its bootstrap compares them on their own
    output.mkdir(parents=True, exist_ok=True)
    plot_per_label(experiment, rare, output / "per_label_f1.png")
    plot_curve(experiment, output / "amount_curve.png")
    plot_labels(data, output / "label_distribution.png")
    plot_lengths(data, output / "sentence_length.png")
    report = context(
        experiment, data, llm, privacy, rare, decisions(experiment, metrics / "experiment" / "runs", output),
        classifier_vs_llm(experiment, srsly.read_json(llm_summary), llm_summary.name) if llm_summary else None,
        benchmarks(metrics / "benchmarks", generation_summary), findings(model, notes, n_notes, output) if model else None)
    write_text(output / "README.md", render(report))
    write_json(output / "summary.json", headline(experiment, llm))
    msg.good(f"{output / 'README.md'}, summary.json and 6 plots")


if __name__ == "__main__":
    typer.run(main)
