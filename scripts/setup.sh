#!/usr/bin/env bash
# Installs what building and testing Moor needs on a fresh Debian machine, and nothing that is
# already there: libclang (librocksdb-sys runs bindgen), a C++ compiler, git and python3 (tests
# and the demo), and the Rust toolchain if cargo is missing. Idempotent; safe to run before every build.
# With --browser (`make test` runs it so): also Debian's chromium and chromium-driver, for the
# headless-browser test of the map view (jepsen-like-tests/tests/browser.rs); the demo does
# not need them.
set -euo pipefail

browser=no
for arg in "$@"; do
  case "$arg" in
    --browser) browser=yes ;;
    *) echo "setup: unknown option $arg (known: --browser)" >&2; exit 2 ;;
  esac
done

need=()
if [ "$browser" = yes ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
fi
command -v c++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v curl >/dev/null 2>&1 || need+=(curl)
# The Git-source tests and the demo make real repositories with git (moord itself fetches
# with a Rust library and needs no git binary).
command -v git >/dev/null 2>&1 || need+=(git)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# bindgen loads libclang at build time.
# (libclang-cpp.so is a different library that LLVM packages install on their own: not enough.)
# (ls fails when any one pattern matches nothing, so test for any match at all.)
have_libclang=no
for f in /usr/lib/llvm-*/lib/libclang.so* /usr/lib/llvm-*/lib/libclang-[0-9]*.so* \
         /usr/lib/*-linux-gnu/libclang.so* /usr/lib/*-linux-gnu/libclang-[0-9]*.so*; do
  [ -e "$f" ] && { have_libclang=yes; break; }
done
[ "$have_libclang" = yes ] || need+=(libclang-dev)
# The deploy tests drive deploy/compose/ with docker-compose when a Docker engine is present.
if command -v docker >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1 \
   && ! docker compose version >/dev/null 2>&1; then
  need+=(docker-compose)
fi
if [ "${#need[@]}" -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: installing the Rust toolchain with rustup"
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
fi
echo "setup: ok ($(cargo --version))"
