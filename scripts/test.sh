#!/usr/bin/env bash
# `make test`: static checks, then the whole suite (slow tests included). Run from the project root.
# Under CI=true the optional services are made present first (CI runs as root on the project's machines):
# PostgreSQL (the store's tests must run there, not skip) and Debian's Chromium (the browser tests).
set -euo pipefail
BIN=.venv/bin
export PYSPARK_PYTHON="$PWD/$BIN/python" PYSPARK_DRIVER_PYTHON="$PWD/$BIN/python"

if [[ "${CI:-}" == "true" ]]; then
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && [[ -d /etc/postgresql ]]; then
    echo ">>> starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  if ! command -v chromium >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
    echo ">>> installing Debian chromium for the browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-cjk) >/dev/null
  fi
fi

echo ">>> ruff"
"$BIN/ruff" check .
"$BIN/ruff" format --check .
echo ">>> mypy"
"$BIN/mypy"
echo ">>> import contracts (the layers in pyproject.toml)"
"$BIN/lint-imports" --no-cache
echo ">>> pytest"
set +e
"$BIN/pytest" -q -p no:cacheprovider "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then echo "pytest collected no tests" >&2; exit 1; fi
exit $rc
