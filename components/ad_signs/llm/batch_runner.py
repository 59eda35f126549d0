"""The batch runner: the two LLM directions over many docs, with progress bar, rejects file, DocBin, run summary."""
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Union

import srsly
from spacy.language import Language
from spacy.tokens import Doc
from spacy_llm.util import assemble
from tqdm import tqdm

from ..atomic import replaced_when_done
from ..metrics import NO_LABEL
from ..readers import InputError
from ..taxonomy import Taxonomy
from .generate_task import GENERATED_KEY, REQUEST_KEY, GenerationRequest, request_doc
from .models import ChatModel, is_off_machine
from .parsing import REJECT_KEY


class PatientDataError(RuntimeError):
    """Patient data on its way to a model that sends prompts off this machine."""


def _patient_data(item) -> tuple:
    """(is it patient data, its id) of a reader's record or of a sentence Doc from `sentence_docs`."""
    if isinstance(item, Doc):
        source = item.user_data.get("source") or {}
        return bool(source.get("sensitive")), f"{source.get('id', '?')}, sentence {source.get('sentence', '?')}"
    return bool(item.sensitive), item.id


def guard_patient_data(items: Iterable, nlp: Language, allow_remote: bool = False, sensitive: bool = False) -> Iterator:
    """Pass records (or sentence Docs) through, but raise PatientDataError at the first one that is
    patient data (`record.sensitive`, a Doc's `user_data["source"]["sensitive"]`, or all of them
    with `sensitive=True`) when the pipeline's model sends prompts off this machine (or does not
    say where), unless `allow_remote`. Checked one by one, before any of it reaches the model."""
    host = getattr(chat_model(nlp), "host", None)  # None: a model that does not say where it sends prompts
    remote = host is None or is_off_machine(host)
    for item in items:
        is_patient_data, name = _patient_data(item)
        if remote and not allow_remote and (sensitive or is_patient_data):
            raise PatientDataError(
                f"record {name} is patient data (credentialed data such as MIMIC may not be sent to other "
                f"services), and the configured model sends prompts to {host or 'a remote service'}, off this machine")
        yield item


class TooManyRejectsError(RuntimeError):
    """A run whose rejected answers (unparsed or failed requests) reach the allowed share."""


@dataclass
class RunSummary:
    """What a run did: items in, docs kept, rejects, LLM calls, time, label counts."""

    direction: str
    items: int = 0
    docs: int = 0
    rejects: int = 0
    seconds: float = 0.0
    llm: Dict[str, int] = field(default_factory=dict)
    labels: Counter = field(default_factory=Counter)
    reject_reasons: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)  # input records left out, by reason
    settings: Dict[str, Any] = field(default_factory=dict)  # what made the data (model, seeds, amounts)

    @property
    def seconds_per_item(self) -> float:
        return self.seconds / self.items if self.items else 0.0

    def as_dict(self) -> dict:
        return {
            "direction": self.direction,
            "items": self.items,
            "docs": self.docs,
            "rejects": self.rejects,
            "seconds": round(self.seconds, 2),
            "seconds_per_item": round(self.seconds_per_item, 3),
            "llm_calls": self.llm,
            "labels": dict(self.labels.most_common()),
            "reject_reasons": dict(self.reject_reasons.most_common()),
            "skipped": dict(self.skipped.most_common()),
            **({"settings": self.settings} if self.settings else {}),
        }

    def rows(self) -> List[tuple]:
        rows = [(label, n) for label, n in self.labels.most_common()]
        rows += [("items in", self.items), ("docs written", self.docs), ("rejects", self.rejects)]
        rows += [(f"skipped: {reason}", n) for reason, n in self.skipped.most_common()]
        rows += [(f"LLM {k}", v) for k, v in sorted(self.llm.items())]
        rows += [("seconds per item", f"{self.seconds_per_item:.2f}")]
        return rows


CONFIGS = Path(__file__).parent.parent / "configs"  # the library's default spacy-llm configs


def llm_config(path: Union[str, Path, None], default: str) -> Path:
    """`path`, or the library's own config `default` (e.g. "llm_label.cfg") when it is None."""
    chosen = Path(path) if path else CONFIGS / default
    if not chosen.is_file():
        raise InputError(f"Config not found: {chosen}. Give a spacy-llm config file, or leave out --config for the "
                         f"library's default ({CONFIGS / default}).")
    return chosen


def load_llm(config: Union[str, Path, None], overrides: Optional[Dict[str, object]] = None) -> Language:
    """The spacy-llm pipeline of a config file (None: the library's labeling config), with
    dotted-path overrides."""
    return assemble(llm_config(config, "llm_label.cfg"), overrides=overrides or {})


def chat_model(nlp: Language) -> ChatModel:
    """The model of the pipeline's `llm` component. spacy-llm 0.7.4 keeps it in the private
    `LLMWrapper._model` and offers no public accessor (the task has `.task`); this is the one
    place that reads it."""
    return nlp.get_pipe("llm")._model


def model_settings(nlp: Language) -> Dict[str, Any]:
    """What a data card says about the model that made the data (its file and SHA-256 when known)."""
    model = chat_model(nlp)
    identity = getattr(model, "identity", {})
    return {
        "model": identity.get("model", type(model).__name__),
        "model_sha256": getattr(model, "sha256", None),
        **{key: identity[key] for key in ("decoding", "temperature", "seed", "max_tokens") if key in identity},
    }


def _set_aside(nlp: Language, f, doc: Doc, what: dict) -> str:
    """Write a rejected answer to the rejects file and drop it from the answer cache (a later run
    asks again); returns the reason."""
    reject = doc.user_data[REJECT_KEY]
    forget = getattr(chat_model(nlp), "forget", None)  # any spacy-llm model works; ours cache answers
    if forget is not None:
        forget(reject.get("answer", ""))
    io = doc.user_data.get("llm_io", {}).get("llm", {})
    f.write(json.dumps({**what, "prompt": io.get("prompt"), **reject}, ensure_ascii=False) + "\n")
    f.flush()
    return reject["error"].split(" (")[0].split(":")[0]


def _clean(doc: Doc) -> Doc:
    for key in ("llm_io", REJECT_KEY, GENERATED_KEY):
        doc.user_data.pop(key, None)
    return doc


def _finish(nlp: Language, summary: RunSummary, started: float) -> RunSummary:
    summary.seconds = time.perf_counter() - started
    summary.llm = dict(getattr(chat_model(nlp), "stats", {}))  # any spacy-llm model works; ours count calls
    return summary


def label_docs(
    nlp: Language, docs: Iterable[Doc], rejects_path: Path, total: Optional[int] = None, batch_size: Optional[int] = None,
    allow_remote: bool = False, sensitive: bool = False,
) -> tuple:
    """Label sentence Docs; returns (labelled docs, summary). Rejects go to `rejects_path`. Patient
    data (see `guard_patient_data`) never reaches a model off this machine unless `allow_remote`.
    batch_size: sentences handed to the model at once; by default as many as it answers together."""
    batch_size = batch_size or max(16, getattr(chat_model(nlp), "n_parallel", 1))
    summary, kept = RunSummary("data-to-label"), []
    started = time.perf_counter()
    docs = guard_patient_data(docs, nlp, allow_remote, sensitive)
    with replaced_when_done(rejects_path) as partial, partial.open("w", encoding="utf8") as rejects:  # kept if interrupted
        for doc in tqdm(nlp.pipe(docs, batch_size=batch_size), total=total, desc="LLM labeling", unit="sent"):
            summary.items += 1
            if REJECT_KEY in doc.user_data:
                summary.rejects += 1
                summary.reject_reasons[_set_aside(nlp, rejects, doc, {"text": doc.text, "source": doc.user_data.get("source")})] += 1
                continue
            positives = [label for label, score in doc.cats.items() if score >= 0.5]
            summary.labels.update(positives or [NO_LABEL])
            kept.append(_clean(doc))
    summary.docs = len(kept)
    return kept, _finish(nlp, summary, started)


def generate_docs(
    nlp: Language,
    taxonomy: Taxonomy,
    requests: List[GenerationRequest],
    rejects_path: Path,
    batch_size: Optional[int] = None,
) -> tuple:
    """Run generation requests; returns (one Doc per generated sentence with its cats, summary).
    batch_size: prompts handed to the model at once; by default as many as it answers together."""
    batch_size = batch_size or max(4, getattr(chat_model(nlp), "n_parallel", 1))
    summary, made = RunSummary("label-to-data"), []
    started = time.perf_counter()
    request_docs = (request_doc(nlp.make_doc, r) for r in requests)
    with replaced_when_done(rejects_path) as partial, partial.open("w", encoding="utf8") as rejects:  # kept if interrupted
        bar = tqdm(nlp.pipe(request_docs, batch_size=batch_size), total=len(requests), desc="LLM generation", unit="prompt")
        for i, doc in enumerate(bar):
            summary.items += 1
            request = doc.user_data[REQUEST_KEY]
            if REJECT_KEY in doc.user_data:
                summary.rejects += 1
                summary.reject_reasons[_set_aside(nlp, rejects, doc, {"request": request})] += 1
                continue
            positive = request["polarity"] == "positive"
            for sentence in doc.user_data[GENERATED_KEY]:
                out = nlp.make_doc(sentence)
                labels = [request["label"], *request.get("also", ())] if positive else []
                out.cats = taxonomy.cats(labels)
                out.user_data["source"] = {"id": f"bronze:{i}", **request}
                made.append(out)
                summary.labels.update(labels or [NO_LABEL])
            bar.set_postfix(sentences=len(made))
    summary.docs = len(made)
    return made, _finish(nlp, summary, started)


def check_rejects(summary: RunSummary, max_reject_share: float = 1.0) -> None:
    """Raise TooManyRejectsError when rejects reach `max_reject_share` of the items (1.0: all of
    them), so that a run that learnt nothing is a failure, not an empty dataset."""
    if summary.items and summary.rejects / summary.items >= max_reject_share:
        reasons = ", ".join(f"{n} {reason}" for reason, n in summary.reject_reasons.most_common())
        raise TooManyRejectsError(
            f"{summary.rejects} of {summary.items} answers rejected ({reasons}), at or above the allowed share "
            f"{max_reject_share:g}")


def write_summary(summary: RunSummary, path: Path) -> None:
    with replaced_when_done(path) as partial:
        srsly.write_json(partial, summary.as_dict())
