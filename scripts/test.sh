#!/usr/bin/env bash
# `make test`: static checks, then the whole suite (slow tests included). Run from the project root.
set -euo pipefail
BIN=.venv/bin
export PYSPARK_PYTHON="$PWD/$BIN/python" PYSPARK_DRIVER_PYTHON="$PWD/$BIN/python"
echo ">>> ruff"
"$BIN/ruff" check .
"$BIN/ruff" format --check .
echo ">>> mypy"
"$BIN/mypy"
echo ">>> pytest"
set +e
"$BIN/pytest" -q -p no:cacheprovider "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then echo "pytest collected no tests" >&2; exit 1; fi
exit $rc
