"""Where a trained pipeline's time goes, per sentence of whole notes: the floor (spaCy's tokenizer
and the sentence splitter alone), then inside the `ad_signs` component each step (sentence Docs,
each layer of the model, the annotations), timed inside one `nlp.pipe` run of the whole pipeline
(wall clock, not a profiler, whose overhead would inflate the Python-heavy steps).

    python benchmarks/pipeline_profile.py training/packages/en_ad_signs --out benchmarks/results/pipeline_profile.json
"""
import functools
import time
from itertools import cycle, islice
from pathlib import Path
from typing import Dict

import spacy
import srsly
import typer
from spacy.attrs import SENT_START
from wasabi import msg

from ad_signs.pipeline import AdSignsClassifier
from ad_signs.readers import read_records

LAYERS = ("static_embeddings", "onnx_encoder", "extract_ngrams>>resizable(sparse_linear)", "relu>>dropout", "linear")


def main(
    model: str = typer.Argument(..., help="Trained pipeline: a path or an installed package"),
    notes: Path = typer.Option(Path("assets/notes/sample_notes.jsonl"), help="Notes, repeated to the number asked"),
    n_notes: int = typer.Option(3000, help="How many notes to run"),
    out: Path = typer.Option(None, help="Write the times as JSON"),
):
    texts = list(islice(cycle([r.text for r in read_records(notes)]), n_notes))
    nlp = spacy.load(model)
    for _ in nlp.pipe(texts, batch_size=64):  # warm up: strings, lexemes, lazy sessions
        pass
    seconds: Dict[str, float] = {}

    def timed(name, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            result = func(*args, **kwargs)
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
            return result
        return wrapper

    others = [name for name, pipe in nlp.pipeline if not isinstance(pipe, AdSignsClassifier)]
    with nlp.select_pipes(enable=others):  # the floor: tokenizer + sentence splitter alone
        started = time.perf_counter()
        sentences = sum(int((doc.to_array([SENT_START]) == 1).sum()) for doc in nlp.pipe(texts, batch_size=64))
        seconds["tokenizer + " + " + ".join(others)] = time.perf_counter() - started
    component = nlp.get_pipe("ad_signs")
    component._sentence_docs = timed("ad_signs: one Doc per sentence", component._sentence_docs)
    component.set_annotations = timed("ad_signs: spans and note scores", component.set_annotations)
    for node in component.model.walk():
        if node.name in LAYERS:
            node._func = timed(f"ad_signs: {node.name}", node._func)
    started = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=64):
        pass
    total = time.perf_counter() - started
    rows = {name: {"seconds": s, "us_per_sentence": s / sentences * 1e6} for name, s in seconds.items()}
    rows["whole pipeline"] = {"seconds": total, "us_per_sentence": total / sentences * 1e6}
    msg.table([(name, f"{r['seconds']:.2f}", f"{r['us_per_sentence']:.1f}") for name, r in rows.items()],
              header=("step", "seconds", "µs per sentence"), divider=True)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        srsly.write_json(out, {"model": model, "notes": n_notes, "sentences": sentences, "steps": rows})
        msg.good(f"-> {out}")


if __name__ == "__main__":
    typer.run(main)
