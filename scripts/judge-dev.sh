#!/usr/bin/env bash
# Measures the xsafe judge on XSTest's human-labelled development answers
# (../shared/data/xstest/completions-dev, three models):
#   1. leave-one-model-out: train on the built-in corpus and two models'
#      answers, measure on the third, all three ways;
#   2. XSTest's string match on the same answers, for comparison;
#   3. the shipped weights are exactly what the corpus and these three files
#      train (fails otherwise).
# Usage: scripts/judge-dev.sh [DEV_DIR]   (XSAFE=path/to/xsafe to pick a binary)
set -euo pipefail
cd "$(dirname "$0")/.."
dev="${1:-../shared/data/xstest/completions-dev}"
xsafe="${XSAFE:-${CARGO_TARGET_DIR:-target}/debug/xsafe}"
models=(gpt4 llama2orig mistralinstruct)
file() { echo "$dev/xstest_v2_completions_$1.csv"; }
for m in "${models[@]}"; do
  [[ -f "$(file "$m")" ]] || { echo "no $(file "$m"): nothing to measure" >&2; exit 1; }
done
# Without XSAFE, build first: a binary left from older sources would
# measure the old judge (cargo does nothing when it is up to date).
[[ -n "${XSAFE:-}" ]] || cargo build --locked --quiet --bin xsafe
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

figures() { # judge, labels... -> "acc3 acc_bin kappa n unscored answers/s [share acc3 at >= 0.95]"
  local judge="$1"; shift
  "$xsafe" -q judge eval --judge "$judge" --labels "$@" --json |
    python3 -c '
import json, sys
r = json.load(sys.stdin)
line = "%.1f%%  %.1f%%  %.3f  %4d  %3d  %7.0f" % (100*r["accuracy_3class"], 100*r["accuracy_binary"], r["kappa"], r["n"], r["unscored"], r["answers_per_second"])
sure = [b for b in r["by_confidence"] if b["min_confidence"] == 0.95][0]
if 0 < sure["answers"] < r["scored"]:
    line += "  %3.0f%% at %.1f%%" % (100*sure["share"], 100*sure["accuracy_3class"])
print(line)'
}

echo "xsafe judge, leave one model out (trained on the corpus and the other two models;"
echo "the last column: the share of answers judged with confidence >= 0.95, and the agreement on them):"
echo "  held out          3-class  binary  kappa     n  unscored  answers/s  >= 0.95"
for held in "${models[@]}"; do
  train=()
  for m in "${models[@]}"; do [[ "$m" == "$held" ]] || train+=("$(file "$m")"); done
  "$xsafe" -q judge train --labels "${train[@]}" --output "$work/$held.json" >/dev/null
  printf '  %-16s  %s\n' "$held" "$(figures "xsafe:$work/$held.json" "$(file "$held")")"
done
echo "strmatch (XSTest's string match) on the same answers:"
for m in "${models[@]}"; do
  printf '  %-16s  %s\n' "$m" "$(figures strmatch "$(file "$m")")"
done

"$xsafe" -q judge train --labels "$(file gpt4)" "$(file llama2orig)" "$(file mistralinstruct)" \
  --output "$work/shipped.json" >/dev/null
if cmp -s "$work/shipped.json" crates/xsafe-judge/weights/xsafe.json; then
  echo "shipped weights: reproduced byte for byte from the corpus and the three files"
else
  echo "shipped weights differ from what the corpus and the three files train; retrain:" >&2
  echo "  xsafe judge train --labels $(file gpt4) $(file llama2orig) $(file mistralinstruct) --output crates/xsafe-judge/weights/xsafe.json" >&2
  exit 1
fi
