"""Throughput of a pipeline on notes, counted without a Python loop per token: shared by
benchmarks/pipeline_speed.py and benchmarks/cnn_width.py."""
import time
from typing import Dict, Sequence

from spacy.attrs import IS_SPACE, SENT_START
from spacy.language import Language


def throughput(nlp: Language, notes: Sequence[str], n_process: int, batch_size: int) -> Dict:
    """Seconds, sentences and words (non-space tokens) per second of `nlp.pipe` over `notes`."""
    started = time.perf_counter()
    sentences = words = 0
    for doc in nlp.pipe(notes, n_process=n_process, batch_size=batch_size):
        starts, spaces = doc.to_array([SENT_START, IS_SPACE]).T
        sentences += int((starts == 1).sum())
        words += int((spaces == 0).sum())
    seconds = time.perf_counter() - started
    return {"n_process": n_process, "seconds": seconds, "sentences": sentences, "words": words,
            "sentences_per_second": sentences / seconds, "words_per_second": words / seconds}
