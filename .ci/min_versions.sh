#!/usr/bin/env bash
# The declared lower bounds, proven: install every dependency at the oldest version pyproject.toml allows
# (.ci/min_constraints.py: `>=X.Y` -> `==X.Y.*`) into a separate venv and run the fast tests there.
# torch is the CPU wheel of TORCH_SPEC (as in `make`): PyPI's wheels of the declared minimum are multi-GB CUDA
# builds, so torch's own bound is the one not exercised here.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MIN_VENV:-.venv-min}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
start=$(date +%s)
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "$TORCH_SPEC"
python3 .ci/min_constraints.py dev models mteb > "$VENV/min-constraints.txt"
"$VENV/bin/pip" install -q -e ".[dev,models,mteb]" -c "$VENV/min-constraints.txt"
"$VENV/bin/pip" list --format=freeze > "$VENV/installed.txt"
echo "min-versions: installed in $(( $(date +%s) - start )) s:"
grep -iE "^($(python3 .ci/min_constraints.py dev models mteb | sed 's/==.*//' | paste -sd'|'))==" "$VENV/installed.txt" \
  | paste -sd' '
"$VENV/bin/python" -m pytest -p no:cacheprovider "$@"  # addopts already has -q: a second one hides the summary
echo "min-versions: done in $(( $(date +%s) - start )) s"
