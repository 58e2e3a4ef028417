#!/usr/bin/env bash
# Moor's main job, for now: a local 3-member cluster on loopback. Writes go through
# followers, reads through other members, the leader is killed with SIGKILL, a new leader
# takes over and every acknowledged write is still there.
set -euo pipefail
BIN="${MOOR_BIN_DIR:-/var/tmp/moor-target/release}"
WORK="$(mktemp -d /tmp/moor-demo.XXXXXX)"
PORTS=(17401 17402 17403)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ctl() { "$BIN/moorctl" --endpoints "$1" "${@:2}"; }
addr() { echo "127.0.0.1:${PORTS[$(($1-1))]}"; }
ALL="$(addr 1),$(addr 2),$(addr 3)"

say "starting 3 members in $WORK"
for id in 1 2 3; do
  cat > "$WORK/member-$id.toml" <<TOML
id = $id
listen_addr = "$(addr $id)"
data_dir = "$WORK/member-$id"
TOML
  "$BIN/moord" --config "$WORK/member-$id.toml" >"$WORK/member-$id.log" 2>&1 &
  pids[$id]=$!
  echo "member $id: pid ${pids[$id]}, $(addr $id), log $WORK/member-$id.log"
done

say "initialising the group through member 1"
for _ in $(seq 1 100); do
  if ctl "$(addr 1)" cluster init --member "1=$(addr 1)" --member "2=$(addr 2)" --member "3=$(addr 3)" 2>/dev/null; then break; fi
  sleep 0.1  # the members are still starting
done
ctl "$ALL" cluster status

leader=$(ctl "$ALL" -o json cluster status | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader_id"])')
followers=(); for id in 1 2 3; do [ "$id" != "$leader" ] && followers+=("$id"); done
say "leader is member $leader; writing 20 variables through followers ${followers[*]}"
for i in $(seq 1 20); do
  f=${followers[$((i % 2))]}
  ctl "$(addr "$f")" var put "demo/key-$i" "value-$i" >/dev/null
done
ctl "$(addr "${followers[0]}")" var list demo/ | head -5
echo "..."

say "SIGKILL the leader (member $leader, pid ${pids[$leader]})"
kill -9 "${pids[$leader]}"
survivors="$(addr "${followers[0]}"),$(addr "${followers[1]}")"
ctl "$survivors" var put demo/after-failover yes
ctl "$survivors" cluster status

say "every acknowledged write is still there (linearizable reads through the survivors)"
count=$(ctl "$survivors" -o json var list demo/ | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
echo "$count variables found (expected 21)"
[ "$count" = 21 ]

say "restarting member $leader: it catches up from its own data"
"$BIN/moord" --config "$WORK/member-$leader.toml" >>"$WORK/member-$leader.log" 2>&1 &
pids[$leader]=$!
ctl "$ALL" var get demo/after-failover
ctl "$(addr "$leader")" cluster status
say "done; logs and data in $WORK"
