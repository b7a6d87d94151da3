# Shared by the scripts (sourced, not run): where xsafe's cache is, a
# portable sha256, and the checks that pip and libclang are there.

# xsafe's own default (the `dirs` crate's cache directory), so that what
# the scripts install lands where xsafe looks: $XSAFE_CACHE_DIR, else
# ~/Library/Caches/xsafe on macOS, else $XDG_CACHE_HOME/xsafe or
# ~/.cache/xsafe.
xsafe_cache_dir() {
  if [ -n "${XSAFE_CACHE_DIR:-}" ]; then
    echo "$XSAFE_CACHE_DIR"
  elif [ "$(uname -s)" = Darwin ]; then
    echo "$HOME/Library/Caches/xsafe"
  else
    echo "${XDG_CACHE_HOME:-$HOME/.cache}/xsafe"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# Exits with a message naming what to install when pip is missing.
need_pip() {
  if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "error: python3 with pip is needed to install $1 from PyPI" \
      "(Debian: apt-get install python3-pip)" >&2
    exit 2
  fi
}

# Whether bindgen (llama.cpp's bindings in xsafe-local) will find libclang:
# libclang.so or libclang-N.so, with or without a version suffix (Debian:
# libclang-dev). Not libclang-cpp.so, which llvm-14-dev brings and bindgen
# cannot use.
have_libclang() {
  local lib
  for lib in /usr/lib/llvm-*/lib/libclang.so* /usr/lib/llvm-*/lib/libclang-[0-9]*.so* \
    /usr/lib/*/libclang.so* /usr/lib/*/libclang-[0-9]*.so*; do
    [ -e "$lib" ] && return 0
  done
  return 1
}
