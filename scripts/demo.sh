#!/usr/bin/env bash
# The main job on a fresh Debian machine with only the Rust toolchain:
# install what is missing (build tools, the demo model), build xsafe with its
# embedded model engine, run the built-in suite on the embedded default
# target and print the results.
#
#   scripts/demo.sh [extra `xsafe run` flags, e.g. --limit 100]
#
# XSAFE_DEMO_LIMIT (default 40) sets how many cases are run; the demo model
# is small but a full suite still takes a while on two cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib.sh

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v cc >/dev/null 2>&1 || missing+=(gcc g++)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
have_libclang || missing+=(libclang-dev)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if ((${#missing[@]})); then
  echo "installing build tools: ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi

echo "building xsafe (the first build compiles llama.cpp and takes several minutes)" >&2
cargo build --release --locked -p xsafe
# Wherever cargo puts it (CARGO_TARGET_DIR, a config's build.target-dir).
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
xsafe="$target_dir/release/xsafe"

XSAFE="$xsafe" "$root/scripts/install-demo-model.sh"

# Exit 2 with a summary means some answers failed (stderr says which and
# how to retry); the report still shows the rest.
status=0
summary=$("$xsafe" run --suite xsafe-basic --target local:default \
  --limit "${XSAFE_DEMO_LIMIT:-40}" --max-tokens 128 --json "$@") || status=$?
if [ -z "$summary" ]; then exit "$status"; fi
run=$(printf '%s' "$summary" | python3 -c 'import json, sys; print(json.load(sys.stdin)["run_name"])')

# What a researcher reads after a run: the report in the terminal, and the
# same as a self-contained HTML page with charts and every transcript.
"$xsafe" report "$run"
"$xsafe" report "$run" --format html --output "$root/xsafe-demo-report.html"
echo "HTML report: $root/xsafe-demo-report.html" >&2
exit "$status"
