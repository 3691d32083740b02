#!/usr/bin/env bash
# `make demo`: simulate a market, fine-tune the review transformer, train and register the risk models,
# promote, evaluate, and print ranked sampling targets with their reasons. Run from the project root.
# A second run reuses the environment and the fine-tuned review model (FRESH=1 rebuilds it).
set -euo pipefail
BIN=.venv/bin
MARKET=${MARKET:-data/market}
SEED=${SEED:-7}
REVIEW_MODEL=${REVIEW_MODEL:-data/processed/review_model}
export PYSPARK_PYTHON="$PWD/$BIN/python" PYSPARK_DRIVER_PYTHON="$PWD/$BIN/python"
start=$(date +%s)
step() { printf '\n\033[1m>>> [%s/6] %s\033[0m  (%ss elapsed)\n' "$1" "$2" "$(( $(date +%s) - start ))"; }

step 1 "simulating a market: 2,000 shops, 50,000 listings, real reviews (seed $SEED) -> $MARKET"
"$BIN/choujian" simulate --seed "$SEED" --merchants 2000 --listings 50000 --out "$MARKET"

reuse=(--reuse)  # keep an earlier run's model when it was made with this config from this checkpoint
if [[ -n "${FRESH:-}" ]]; then reuse=(); fi
step 2 "fine-tuning the review complaint transformer from the shipped pre-trained checkpoint (FRESH=1: even if an earlier run's is current)"
"$BIN/choujian" reviews train --config configs/review_model.yaml --out "$REVIEW_MODEL" "${reuse[@]}"

step 3 "training the LightGBM risk models on observed lab results; registering @challenger in MLflow"
"$BIN/choujian" train --config configs/train.yaml --data "$MARKET"

step 4 "promoting: @champion moves only if the challenger wins on the same holdout"
# exit code 3: the challenger did not win and @champion stays where it was (a second demo run); go on
"$BIN/choujian" promote || [[ $? -eq 3 ]]

step 5 "evaluating against random, rules, TF-IDF+LR and the oracle, and across worlds a and b (reduced: one seed, 1,000 shops / 15,000 listings each) -> reports/evaluation.json"
# the cross-world part refits the model's recipe on both simulated worlds with every ablation: about one
# CPU-minute per seed (docs/evaluation.md); figures to quote take several: --world-seeds 7,8,9
"$BIN/choujian" evaluate --data "$MARKET" --out reports/evaluation.json \
  --cross-world --world-seeds "$SEED" --world-merchants 1000 --world-listings 15000

step 6 "drawing a 200,000-yuan sampling plan (20% random arm, at most 2 purchases per merchant)"
"$BIN/choujian" plan --market "$MARKET" --budget 200000 --epsilon 0.2 --per-merchant-cap 2 --out reports/plan.csv --show 20

printf '\nDone in %ss. Next: `%s/choujian keys create --role planner` (prints a key), `%s/choujian serve`,\nthen open http://127.0.0.1:8000/web/ (planners, log in with the key) or /docs (the API).\n' \
  "$(( $(date +%s) - start ))" "$BIN" "$BIN"
