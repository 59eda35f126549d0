"""Would another quantization of the default LLM label faster? Prompt evaluation bounds labeling
on 2 cores (benchmarks/llm_speed.py), and llama.cpp's CPU kernels differ by weight type, so this
derives Q8_0 and Q4_0 files from the default Q4_K_M GGUF with llama.cpp's own quantizer (in a
temporary folder, never used elsewhere) and measures, on the same tokens in one run, the fastest
of 3 repeats of: a 256-token prompt (tokens/s), one-token steps (steps/s, as choice decoding's
branches), and 25-token suffixes after a cached prefix (suffixes/s, a labeling prompt's own part).

    python benchmarks/llm_quantization.py --out benchmarks/results/llm_quantization.json
"""
import ctypes
import tempfile
import time
from pathlib import Path
from typing import Dict, Optional

import llama_cpp
import srsly
import typer
from llama_cpp import Llama
from wasabi import msg

from ad_signs.llm.weights import resolve_model_path
from ad_signs.taxonomy import DEFAULT_TAXONOMY

DERIVED = {"q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0, "q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0}


def requantize(source: Path, target: Path, ftype: int) -> None:
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize, params.nthread = ftype, True, 2
    if llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params)) != 0:
        raise RuntimeError(f"llama.cpp could not quantize {source} to {target.stem}")


def speeds(path: Path, tokens_text: str, repeats: int = 3) -> Dict[str, float]:
    llm = Llama(str(path), n_ctx=2048, n_threads=2, verbose=False)
    tokens = llm.tokenize(tokens_text.encode())[:300]
    best = {"prompt_tokens_per_s": 0.0, "steps_per_s": 0.0, "suffixes_per_s": 0.0}
    for _ in range(repeats):
        llm.reset()
        start = time.perf_counter()
        llm.eval(tokens[:256])
        prompt = 256 / (time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(30):
            llm.eval(tokens[256 + i % 40 : 257 + i % 40])
        steps = 30 / (time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(10):
            llm.n_tokens = 256
            llm.eval(tokens[:25])
        suffixes = 10 / (time.perf_counter() - start)
        for key, value in zip(best, (prompt, steps, suffixes)):
            best[key] = max(best[key], round(value, 2))
    return best


def main(gguf: Optional[Path] = typer.Option(None, help="Source GGUF (default: the project's default model)"),
         out: Path = typer.Option(Path("benchmarks/results/llm_quantization.json"))):
    source = resolve_model_path(gguf)
    text = DEFAULT_TAXONOMY.read_text(encoding="utf8")
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        files = {"q4_k_m (default)": source}
        for name, ftype in DERIVED.items():
            files[name] = Path(folder) / f"{name}.gguf"
            requantize(source, files[name], ftype)
        for name, path in files.items():
            results[name] = {**speeds(path, text), "size_mb": round(path.stat().st_size / 1e6)}
            msg.info(f"{name}: {results[name]}")
    default = results["q4_k_m (default)"]["suffixes_per_s"]
    for row in results.values():
        row["suffixes_vs_default"] = round(row["suffixes_per_s"] / default, 2)
    srsly.write_json(out, {"source": source.name, "threads": 2, "runs": results})
    msg.good(f"-> {out}")


if __name__ == "__main__":
    typer.run(main)
