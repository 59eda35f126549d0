#!/usr/bin/env bash
# The labeling-prompt tuning runs behind components/ad_signs/configs/llm_label.cfg, all on gold DEV (never test).
# Each writes benchmarks/results/experiments/<name>.json; ~3 min each on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
run() { name=$1; shift; .venv/bin/python benchmarks/llm_labeling.py assets/gold/dev.jsonl --out "benchmarks/results/experiments/$name.json" "$@"; }
v0=benchmarks/prompts/label_v0.jinja
run v0_grammar            --template $v0 --stop-bias 0 --no-choice-decoding  # first prompt, grammar sampling
run v0_choice             --template $v0 --stop-bias 0
run v0_zero_shot          --template $v0 --stop-bias 0 --shots zero
run v0_39_train_examples  --template $v0 --stop-bias 0 --examples benchmarks/prompts/fewshot_39_from_train.jsonl
run v1_bias0              --stop-bias 0   # current prompt (rules: "most sentences: none", NOTICE needs a person)
for bias in 1 2 4; do run v1_bias$bias --stop-bias $bias; done
