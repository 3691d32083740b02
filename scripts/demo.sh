#!/usr/bin/env bash
# `make demo`: simulate a market, train, register, and show ranked sampling targets.
set -euo pipefail
BIN=.venv/bin
MARKET=${MARKET:-data/market}
SEED=${SEED:-7}
echo ">>> 1/1 simulating a market (seed $SEED) into $MARKET"
"$BIN/choujian" simulate --seed "$SEED" --merchants 2000 --listings 50000 --out "$MARKET"
