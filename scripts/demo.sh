#!/usr/bin/env bash
# Moor's main job on one machine: a 3-member cluster on loopback and moor-sitesim serving
# sites across world regions. A blueprint is installed on every site, a new revision is
# rolled out as updates, the leader is SIGKILLed while steps are in flight, and the new
# leader finishes every run from its checkpoints. Ends by checking the sitesim journal:
# no step applied twice, no fence token going backwards.
set -euo pipefail
BIN="${MOOR_BIN_DIR:-/var/tmp/moor-target/release}"
WORK="$(mktemp -d /tmp/moor-demo.XXXXXX)"
PORTS=(17401 17402 17403)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
addr() { echo "127.0.0.1:${PORTS[$(($1-1))]}"; }
ALL="$(addr 1),$(addr 2),$(addr 3)"
ctl() { "$BIN/moorctl" --endpoints "$ALL" "$@"; }

say "starting moor-sitesim (simulated sites, 0.5-0.9 s per step) and 3 members in $WORK"
"$BIN/moor-sitesim" --latency-ms 700 --latency-jitter-ms 200 --journal "$WORK/journal.jsonl" \
  >"$WORK/sitesim.out" 2>"$WORK/sitesim.log" &
pids[0]=$!
for _ in $(seq 1 100); do grep -q listening "$WORK/sitesim.out" 2>/dev/null && break; sleep 0.05; done
SIM=$(sed -n 's/^moor-sitesim listening on //p' "$WORK/sitesim.out")
echo "sitesim at $SIM"
for id in 1 2 3; do
  cat > "$WORK/member-$id.toml" <<TOML
id = $id
listen_addr = "$(addr $id)"
data_dir = "$WORK/member-$id"
TOML
  "$BIN/moord" --config "$WORK/member-$id.toml" >"$WORK/member-$id.log" 2>&1 &
  pids[$id]=$!
done
for _ in $(seq 1 100); do
  "$BIN/moorctl" --endpoints "$(addr 1)" cluster init --member "1=$(addr 1)" --member "2=$(addr 2)" \
    --member "3=$(addr 3)" 2>/dev/null && break
  sleep 0.1  # the members are still starting
done
ctl cluster status

say "registering 12 sites across the world and the 'hello' blueprint"
{
  echo "sites:"
  while read -r name region lat lon; do
    echo "  - { name: $name, region: $region, latitude: $lat, longitude: $lon, labels: { tier: edge }, agent_endpoint: \"$SIM\" }"
  done <<SITES
paris europe 48.85 2.35
frankfurt europe 50.11 8.68
stockholm europe 59.33 18.07
virginia americas 38.03 -78.48
oregon americas 45.52 -122.68
sao-paulo americas -23.55 -46.63
tokyo asia 35.68 139.69
singapore asia 1.35 103.82
mumbai asia 19.08 72.88
sydney oceania -33.87 151.21
johannesburg africa -26.20 28.05
toronto americas 43.65 -79.38
SITES
} > "$WORK/sites.yaml"
ctl apply -f "$WORK/sites.yaml"
ctl apply -f examples/blueprints/hello.yaml
SITES=$(awk '/name:/ {gsub(",","",$4); print $4}' "$WORK/sites.yaml")

say "installing hello@1 on every site"
for s in $SITES; do
  last=$(ctl -o json env create "hello-$s" --site "$s" --blueprint hello | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
done
ctl exec watch "$last"
ctl env list

say "pushing hello@2 (new network, bigger database, new message) and updating every environment"
sed -e 's|10.42.0.0/24|10.43.0.0/24|' -e 's/size_gb: 10/size_gb: 20/' \
    -e 's/default: hello }/default: "hello, world" }/' examples/blueprints/hello.yaml > "$WORK/hello-v2.yaml"
ctl apply -f "$WORK/hello-v2.yaml"
ids=()
for s in $SITES; do
  ids+=("$(ctl -o json exec start "hello-$s" --kind update | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')")
done
# Wait until the last update has a step in flight, so the failure lands mid-run.
until ctl -o json exec show "${ids[-1]}" | python3 -c 'import json,sys; e=json.load(sys.stdin); sys.exit(0 if e["steps_running"] or e["steps_succeeded"] else 1)'; do :; done
leader=$(ctl -o json cluster status | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader_id"])')
say "SIGKILL the leader (member $leader) with updates in flight"
kill -9 "${pids[$leader]}"
ctl exec watch "${ids[-1]}"
for id in "${ids[@]}"; do
  ctl -o json exec show "$id" | python3 -c 'import json,sys; e=json.load(sys.stdin); assert e["state"]=="succeeded", e; print(e["id"], e["environment"], e["state"], "steps", e["steps_succeeded"], "/", e["steps_total"])'
done
ctl env list
ctl cluster status

say "checking the sitesim journal: at most one effect per step, fencing never went backwards"
kill -TERM "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
python3 - "$WORK/journal.jsonl" <<'PY'
import json, sys, collections
applied = collections.Counter(); highest = {}; bad = 0; fenced = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["op"] not in ("apply", "delete"): continue
    if r["outcome"] == "fenced": fenced += 1
    if r["outcome"] in ("applied", "duplicate"):
        if r["fence_token"] < highest.get(r["site"], 0): bad += 1
        highest[r["site"]] = max(highest.get(r["site"], 0), r["fence_token"])
    if r["outcome"] == "applied": applied[(r["execution_id"], r["step"], r["site"])] += 1
dups = sum(1 for c in applied.values() if c > 1)
after = sum(1 for line in open(sys.argv[1]) if json.loads(line).get("fence_token", 0) > 1)
print(f"{sum(applied.values())} effects, {dups} applied twice, {bad} lower-token acceptances, {fenced} fenced calls")
print(f"{after} calls made by the new leader (fence token above the first term)")
sys.exit(1 if dups or bad else 0)
PY
say "done; logs, data and the journal are in $WORK"
