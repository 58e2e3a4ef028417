#!/usr/bin/env bash
# Builds the previous release's `moord` into $CARGO_TARGET_DIR/previous/moord, for the
# mixed-version test (jepsen-like-tests/tests/upgrade.rs: a cluster started on it and upgraded
# member by member to this build). Idempotent: a stamp beside the binary records the commit it
# was built from, and a matching stamp means there is nothing to do.
#
# Why it is built this way (2 cores: a cold build of the workspace takes about 40 minutes):
# - The source is `git archive` of the pinned commit, unpacked into a temporary directory
#   outside the clone: no worktree registered in the repository, nothing to clean up in it.
# - Never into the shared target dir: cargo names workspace crates' artifacts by paths
#   relative to the workspace root (see .ci/run), so the old checkout's moor-* artifacts would
#   replace the current ones (every workspace crate rebuilt afterwards) and release/moord with
#   them. It builds in its own target dir, seeded with a copy (not hard links: rustc may
#   rewrite an output in place) of the shared dir's third-party artifacts; only Moor's own
#   crates compile. Build scripts' outputs moved to another target dir are fine: cargo
#   rewrites the OUT_DIR they recorded.
# - Third-party artifacts are reused only when the features match the ones they were built
#   with. `make build` builds `--workspace --all-targets`, which unifies the features of every
#   member's dependencies and dev-dependencies (tokio's test-util, for one); `-p moor-node`
#   alone would resolve fewer, and rebuild tokio and everything above it. Asking for one tiny
#   example as well (`--example map_bench`, moor-dashboard's, which has no dev-dependencies)
#   makes cargo resolve dev-dependencies too: the same features as `make build` (the features
#   the released moord was built with), for the price of one small file.
# - The seeded target dir is deleted afterwards: the stamp makes the next run a no-op, and a
#   new pin is best seeded again from the then-current shared dir.
set -euo pipefail

# The last release before cluster feature levels: it runs at feature level 1 and knows
# nothing of levels (issue 16 §3). Change it only together with tests/upgrade.rs.
PREVIOUS_COMMIT=87007b1c35618db9ec6ffca5e10164151bbbbc80

cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
target="${CARGO_TARGET_DIR:-/var/tmp/moor-target}"
out="$target/previous"
bin="$out/moord"
stamp="$out/moord.commit"

if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$PREVIOUS_COMMIT" ]]; then
  echo "previous-moord: $bin is already commit ${PREVIOUS_COMMIT:0:7}; nothing to do"
  exit 0
fi

# A shallow clone (CI systems often clone with --depth 1) lacks the commit: fetch it once.
if ! git cat-file -e "$PREVIOUS_COMMIT^{commit}" 2>/dev/null; then
  echo "previous-moord: commit ${PREVIOUS_COMMIT:0:7} is not in this clone; fetching it"
  if [[ "$(git rev-parse --is-shallow-repository 2>/dev/null)" == true ]]; then
    git fetch --quiet --unshallow 2>/dev/null || true
  fi
  git cat-file -e "$PREVIOUS_COMMIT^{commit}" 2>/dev/null \
    || git fetch --quiet origin "$PREVIOUS_COMMIT" 2>/dev/null || true
fi
if ! git cat-file -e "$PREVIOUS_COMMIT^{commit}" 2>/dev/null; then
  shallow=$(git rev-parse --is-shallow-repository 2>/dev/null || echo unknown)
  echo "previous-moord: commit $PREVIOUS_COMMIT (the previous release) is not in this clone" >&2
  if [[ "$shallow" == true ]]; then
    echo "previous-moord: this is a shallow clone; fetch the history first: git fetch --unshallow" >&2
  else
    echo "previous-moord: fetch it first (git fetch origin), or clone without --depth" >&2
  fi
  exit 1
fi

src=$(mktemp -d "${TMPDIR:-/tmp}/moor-previous-src.XXXXXX")
build_target="${target}-previous"
cleanup() { rm -rf "$src" "$build_target"; }
trap cleanup EXIT

# Seed: every entry of the shared dir's deps/, build/ and .fingerprint/ that is not one of
# Moor's own units. A unit's fingerprint dir is named <package>-<hash>, and its files in deps/
# and build/ end in the same -<hash>, so Moor's units are those hashes. incremental/ holds
# only workspace crates' caches: not copied. Under cargo's own lock on the shared dir (a
# shared flock; cargo takes it exclusively while it builds), so nothing is copied half-written.
seed="$target/release"
rm -rf "$build_target"
mkdir -p "$build_target/release"
if [[ -d "$seed/.fingerprint" ]]; then
  exec 9>>"$seed/.cargo-lock"
  if ! flock -s -n 9; then
    echo "previous-moord: waiting for the build running in $target to finish"
    flock -s 9
  fi
fi
start=$(date +%s)
git archive "$PREVIOUS_COMMIT" | tar -x -C "$src"
if [[ -d "$seed/.fingerprint" ]]; then
  own=$(find "$seed/.fingerprint" -mindepth 1 -maxdepth 1 -name 'moor-*' -printf '%f\n' \
    | sed -E 's/.*-([0-9a-f]{16})$/\1/' | sort -u)
  for sub in deps build .fingerprint; do
    mkdir -p "$build_target/release/$sub"
    [[ -d "$seed/$sub" ]] || continue
    find "$seed/$sub" -mindepth 1 -maxdepth 1 -printf '%f\n' \
      | { grep -v -E -e '^(lib)?moor[-_]' -e "-($(paste -sd'|' <<<"${own:-none}"))(\.|$)" || true; } \
      | sed "s|^|$seed/$sub/|" \
      | xargs -r -d '\n' cp -a --reflink=auto -t "$build_target/release/$sub/"
  done
  exec 9>&-
  echo "previous-moord: seeded $build_target with $(du -sh "$build_target" | cut -f1) of" \
    "third-party artifacts from $seed"
else
  echo "previous-moord: WARNING: $seed has no build to seed from (run 'make build' first);" \
    "building every dependency from scratch (about 40 minutes on 2 cores)" >&2
fi
seeded=$(date +%s)

mkdir -p "$out"
log="$out/build.log"
(
  cd "$src"
  CARGO_TARGET_DIR="$build_target" cargo build --release --locked --workspace \
    --bin moord --example map_bench 2>&1
) | tee "$log" | grep -E '^ *(Compiling|Finished|error|warning: unused)' || true
if [[ ! -x "$build_target/release/moord" ]]; then
  tail -n 40 "$log" >&2
  echo "previous-moord: building ${PREVIOUS_COMMIT:0:7} failed; the whole log is $log" >&2
  exit 1
fi

compiled=$(grep -c '^ *Compiling' "$log" || true)
ours=$(grep -c -E '^ *Compiling moor-' "$log" || true)
if grep -q -E '^ *Compiling librocksdb-sys' "$log"; then
  echo "previous-moord: WARNING: librocksdb-sys was compiled again: the seed did not match" \
    "(features or versions differ from the shared build)" >&2
fi
peak=$(du -sh "$build_target" | cut -f1)
cp "$build_target/release/moord" "$bin.partial"
mv "$bin.partial" "$bin"
echo "$PREVIOUS_COMMIT" >"$stamp"
end=$(date +%s)
echo "previous-moord: built $bin from ${PREVIOUS_COMMIT:0:7} in $((end - start))s" \
  "(seeding $((seeded - start))s, cargo $((end - seeded))s; $compiled crates compiled," \
  "$ours of them Moor's); peak disk $peak, kept $(du -sh "$bin" | cut -f1)"
