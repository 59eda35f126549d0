"""Render benchmarks/results/*.json as the Markdown tables that README.md shows.

    python benchmarks/report.py > benchmarks/results/README.md
"""
from pathlib import Path

import srsly

RESULTS = Path(__file__).parent / "results"


def labeling_rows():
    runs = sorted((RESULTS / "experiments").glob("*.json")) + sorted(RESULTS.glob("llm_labeling_*.json"))
    yield "| run | prompt | shots | decoding | prefix reuse | sentences | micro F1 | macro F1 | binary P / R / F1 | median s/sentence |"
    yield "|---|---|---|---|---|---|---|---|---|---|"
    for path in runs:
        r = srsly.read_json(path)
        b = r["binary"]
        yield (
            f"| {path.stem} | {Path(r.get('template', 'config default')).stem} | {r['shots']} | {r.get('decoding', '')} "
            f"| {'on' if r['reuse_prefix'] else 'off'} | {r['sentences']} | {r['micro_f']:.2f} | {r['macro_f']:.2f} "
            f"| {b['p']:.2f} / {b['r']:.2f} / {b['f']:.2f} | {r['seconds_per_sentence_median']:.2f} |"
        )


def per_label_rows(name: str):
    r = srsly.read_json(RESULTS / name)
    yield "| label | P | R | F1 | support |"
    yield "|---|---|---|---|---|"
    for label, v in r["per_label"].items():
        yield f"| {label} | {v['p']:.2f} | {v['r']:.2f} | {v['f']:.2f} | {v['support']} |"


def main():
    print("### LLM labeling on gold dev (`benchmarks/llm_labeling.py`, `benchmarks/tune_labeling.sh`)\n")
    print("\n".join(labeling_rows()))
    for name, title in [("llm_labeling_fewshot_dev.json", "few-shot (default config)"), ("llm_labeling_zeroshot_dev.json", "zero-shot")]:
        if (RESULTS / name).exists():
            print(f"\nPer label, {title}:\n")
            print("\n".join(per_label_rows(name)))
    if (RESULTS / "cnn_width.json").exists():
        c = srsly.read_json(RESULTS / "cnn_width.json")
        print(f"\n### CNN sizes (`benchmarks/cnn_width.py`), trained on {c['train']}, {c['seeds']} seeds\n")
        print(f"Picked by dev macro F1 (the test split is not used); throughput against the bare tokenizer + "
              f"splitter ({c['bare_sentences_per_second']:,.0f} sentences/s) in the same run.\n")
        print("| variant | width | depth | maxout pieces | dev macro F1 (mean) | per seed | sentences/s | share of bare |")
        print("|---|---|---|---|---|---|---|---|")
        for name, r in c["variants"].items():
            print(f"| {name} | {r['width']} | {r['depth']} | {r['maxout_pieces']} | {r['dev_macro_f_mean']:.3f} | "
                  f"{' '.join(f'{f:.3f}' for f in r['dev_macro_f'])} | {r['sentences_per_second']:,.0f} | {r['share_of_bare']:.2f} |")
    if (RESULTS / "llm_generation.json").exists():
        g = srsly.read_json(RESULTS / "llm_generation.json")
        print(f"\n### LLM generation (`benchmarks/llm_generation.py`), {g['prompts']} prompts per setting, one run\n")
        print(f"Gold train sentences average {g['gold_tokens_mean']:.1f} tokens.\n")
        print("| setting | per prompt | sentences | sentences/minute | vs default | tokens (vs gold) | distinct-2 | markdown | rejects |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, r in g["runs"].items():
            print(f"| {name} | {r['sentences_per_prompt']} | {r['sentences']} | {r['sentences_per_minute']:.1f} | {r['speed_vs_default']:.2f} | "
                  f"{r['tokens_mean']:.1f} ({r['tokens_vs_gold']:.2f}) | {r['distinct_2']:.2f} | {r['markdown_share']:.2f} | {r['rejects']} |")

if __name__ == "__main__":
    main()
