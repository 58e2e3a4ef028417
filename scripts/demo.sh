#!/usr/bin/env bash
# Moor's main job on one machine: a 3-member cluster on loopback, moor-sitesim serving 200
# simulated sites across world regions, and one real site next to them: lab-01, a moor-agent
# that writes real files below $WORK/lab-01/root. On lab-01 the `motd` blueprint writes two
# files, one is edited by hand, Moor reports the drift (`env diff`), then heals it by policy
# and the file is back as declared. On the simulated sites a rollout installs a blueprint in
# waves (canary first), a second rollout updates every environment to a new revision, the
# leader is SIGKILLed in the middle of it, and the new leader finishes the same rollout from
# its checkpoints. Ends by checking the sitesim journal: no step applied twice, no fence token
# going backwards. TLS and tokens are on: a development CA and certificates are made first,
# members talk to each other over mutual TLS on their peer ports and dial the sites (sitesim
# and agent) with their member certificates, and moorctl uses the bootstrap admin token that
# `cluster init` writes (mode 0600). Last, CI: a Git repository of blueprints, a GitHub-style
# receiver, a source and a trigger; a commit and a signed push webhook (sent twice: recorded
# once) make a new revision of `hello` and the trigger rolls it out.
set -euo pipefail
BIN="${MOOR_BIN_DIR:-/var/tmp/moor-target/release}"
WORK="$(mktemp -d /tmp/moor-demo.XXXXXX)"
PORTS=(17401 17402 17403)
PEER_PORTS=(17411 17412 17413)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
addr() { echo "127.0.0.1:${PORTS[$(($1-1))]}"; }
peer() { echo "127.0.0.1:${PEER_PORTS[$(($1-1))]}"; }
ALL="$(addr 1),$(addr 2),$(addr 3)"
TLS="$WORK/tls"
ctl() { "$BIN/moorctl" --endpoints "$ALL" --ca-file "$TLS/ca.pem" --token-file "$WORK/admin.token" "$@"; }


say "making a development CA and certificates for 3 members and the sites in $TLS"
"$BIN/moord" --gen-dev-certs "$TLS" --dev-cert-members 3 --dev-cert-hosts localhost,127.0.0.1 | sed 's/^/  /'

say "starting moor-sitesim (simulated sites, 0.2-0.4 s per step; mutual TLS, members only) and 3 members in $WORK"
"$BIN/moor-sitesim" --latency-ms 200 --latency-jitter-ms 200 --journal "$WORK/journal.jsonl" \
  --tls-cert "$TLS/site.pem" --tls-key "$TLS/site.key" --tls-ca "$TLS/ca.pem" \
  >"$WORK/sitesim.out" 2>"$WORK/sitesim.log" &
pids[0]=$!
for _ in $(seq 1 100); do grep -q listening "$WORK/sitesim.out" 2>/dev/null && break; sleep 0.05; done
SIM=$(sed -n 's/^moor-sitesim listening on //p' "$WORK/sitesim.out")
echo "sitesim at $SIM"
for id in 1 2 3; do
  cat > "$WORK/member-$id.toml" <<TOML
id = $id
listen_addr = "$(addr $id)"
peer_listen_addr = "$(peer $id)"
data_dir = "$WORK/member-$id"

[tls]
cert = "$TLS/member-$id.pem"
key = "$TLS/member-$id.key"
ca = "$TLS/ca.pem"

[secrets]
key_file = "$TLS/secrets.keys"
TOML
  "$BIN/moord" --config "$WORK/member-$id.toml" >"$WORK/member-$id.log" 2>&1 &
  pids[$id]=$!
done
for _ in $(seq 1 100); do
  "$BIN/moorctl" --endpoints "$(addr 1)" --ca-file "$TLS/ca.pem" cluster init \
    --member "1=$(peer 1)" --member "2=$(peer 2)" --member "3=$(peer 3)" \
    --admin-token-out "$WORK/admin.token" >/dev/null 2>&1 && break
  sleep 0.1  # the members are still starting
done
ctl cluster status
say "access control: without the token the cluster refuses, with it moorctl acts as admin"
"$BIN/moorctl" --endpoints "$ALL" --ca-file "$TLS/ca.pem" var put demo x 2>&1 | sed 's/^/  /' || true
ctl auth whoami | head -n 3
say "the 200 sites registered next are simulated: moor-sitesim at $SIM (mutual TLS; it answers member certificates only)"

say "registering 200 sites (12 cities + 188 edge sites) and the 'hello' blueprint"
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
  regions=(europe americas asia oceania africa)
  for i in $(seq 1 188); do
    printf '  - { name: edge-%03d, region: %s, latitude: %d.%d, longitude: %d.%d, labels: { tier: edge }, agent_endpoint: "%s" }\n' \
      "$i" "${regions[$((i % 5))]}" $(( (i * 37) % 140 - 60 )) $((i % 10)) $(( (i * 53) % 340 - 170 )) $((i % 7)) "$SIM"
  done
} > "$WORK/sites.yaml"
ctl apply -f "$WORK/sites.yaml" | tail -n 2
ctl apply -f examples/blueprints/hello.yaml
ctl group put edge --of sites --label tier=edge

LAB="$WORK/lab-01"
say "starting a real site agent: moor-agent for site lab-01 (mutual TLS, members only), files under $LAB/root"
mkdir -p "$LAB/root" "$LAB/data"
"$BIN/moor-agent" --site lab-01 --listen-addr 127.0.0.1:0 --root-dir "$LAB/root" --data-dir "$LAB/data" \
  --tls-cert "$TLS/site.pem" --tls-key "$TLS/site.key" --tls-ca "$TLS/ca.pem" \
  >"$LAB/agent.out" 2>"$LAB/agent.log" &
pids[4]=$!
for _ in $(seq 1 100); do grep -q listening "$LAB/agent.out" 2>/dev/null && break; sleep 0.05; done
AGENT=$(sed -n 's/^moor-agent listening on //p' "$LAB/agent.out")
[ -n "$AGENT" ] || { echo "moor-agent did not start:"; cat "$LAB/agent.log"; exit 1; }
cat > "$LAB/site.yaml" <<YAML
sites:
  - { name: lab-01, region: europe, latitude: 45.76, longitude: 4.84, labels: { tier: lab }, agent_endpoint: "$AGENT" }
YAML
ctl apply -f "$LAB/site.yaml"
echo "200 simulated sites (moor-sitesim at $SIM) + 1 real site lab-01 (moor-agent at $AGENT writing files under $LAB/root)"

# Polls the environment's recorded status until it is $2, for at most $3 seconds.
wait_status() {
  local start=$SECONDS deadline=$((SECONDS + $3)) status
  while :; do
    status=$(ctl -o json env show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    [ "$status" = "$2" ] && { echo "$1 is $status (after about $((SECONDS - start)) s)"; return 0; }
    if ((SECONDS >= deadline)); then echo "$1 is still $status after $3 s (waited for $2)"; ctl env show "$1"; return 1; fi
    sleep 0.5
  done
}
show() { for f in "$@"; do echo "\$ cat $LAB/root/$f    # mode $(stat -c %a "$LAB/root/$f")"; cat "$LAB/root/$f"; done; }

say "real site lab-01: env lab-motd installs the 'motd' blueprint (two files), drift checked every 2s, notify only"
ctl apply -f examples/blueprints/motd.yaml
ctl env create lab-motd --site lab-01 --blueprint motd --input message="hello from Moor" \
  --drift-check-every 2s --on-drift notify --watch
show motd.txt app/config.json

say "real site lab-01: editing motd.txt by hand; Moor sees the drift at its next check"
echo "edited by hand, not by Moor" > "$LAB/root/motd.txt"
wait_status lab-motd drifted 30
diff_rc=0; ctl env diff lab-motd || diff_rc=$?
echo "(moorctl env diff exited $diff_rc: 9 means something differs)"
[ "$diff_rc" = 9 ] || { echo "expected exit code 9 from env diff"; exit 1; }

say "real site lab-01: policy heal; Moor rewrites the file as declared"
ctl env drift lab-motd --check-every 2s --on-drift heal
wait_status lab-motd in_sync 30
ctl env show lab-motd
show motd.txt

say "rollout 1: install hello@1 on every site in waves (1 canary, then 10%, then all), 40 at a time"
ctl rollout start --group edge --action install --blueprint hello@1 --max-parallel 40 \
  --waves 1,10%,100% --max-failed-percent 5 --watch
ctl group put hello-envs --of environments --label moor.rollout=r1
ctl rollout list

say "pushing hello@2 (new network, bigger database, new message); rollout 2 updates every environment"
sed -e 's|10.42.0.0/24|10.43.0.0/24|' -e 's/size_gb: 10/size_gb: 20/' \
    -e 's/default: hello }/default: "hello, world" }/' examples/blueprints/hello.yaml > "$WORK/hello-v2.yaml"
ctl apply -f "$WORK/hello-v2.yaml"
rid=$(ctl -o json rollout start --group hello-envs --action update --revision 2 --max-parallel 40 \
  --waves 1,10%,100% --max-failed-percent 5 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
# Wait until a quarter of the environments are updated, so the failure lands mid-rollout.
until ctl -o json rollout show "$rid" | python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(0 if r["succeeded"] >= r["total"] // 4 else 1)'; do sleep 0.2; done
leader=$(ctl -o json cluster status | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader_id"])')
say "SIGKILL the leader (member $leader) in the middle of rollout $rid"
kill -9 "${pids[$leader]}"
ctl rollout watch "$rid"
ctl rollout list
ctl env list | head -n 8
ctl cluster status

say "CI webhooks: a Git repository of blueprints, a GitHub receiver, a source and a trigger"
REPO="$WORK/repo"
mkdir -p "$REPO"
g() { git -C "$REPO/work" -c user.name=demo -c user.email=demo@moor.invalid -c commit.gpgsign=false "$@"; }
git init --quiet --bare --initial-branch=main "$REPO/origin.git"
git clone --quiet "$REPO/origin.git" "$REPO/work" 2>/dev/null
g checkout --quiet -B main
mkdir -p "$REPO/work/blueprints"
cp "$WORK/hello-v2.yaml" "$REPO/work/blueprints/hello.yaml"
g add -A && g commit --quiet -m "hello v2" && g push --quiet origin main
python3 -c 'import secrets; print(secrets.token_hex(32))' > "$WORK/hook.secret"
chmod 600 "$WORK/hook.secret"
ctl receiver create github --type github --secret-file "$WORK/hook.secret"
ctl source add blueprints --url "file://$REPO/origin.git" --branch main --path blueprints
ctl source sync blueprints --wait
ctl trigger create hello-edge --source blueprints --blueprint hello --group hello-envs \
  --waves 1,10%,100% --max-parallel 40 --max-failed-percent 5
say "a commit changes the message of hello; the push webhook (signed like GitHub's) goes to member $( [ "$leader" = 1 ] && echo 2 || echo 1 )"
sed -i 's/default: "hello, world" }/default: "hello from a git push" }/' "$REPO/work/blueprints/hello.yaml"
g commit --quiet -am "hello: new message" && g push --quiet origin main
commit=$(g rev-parse HEAD)
target=$( [ "$leader" = 1 ] && addr 2 || addr 1 )
python3 - "$target" "$TLS/ca.pem" "$WORK/hook.secret" "$REPO/origin.git" "$commit" <<'PY'
import hashlib, hmac, http.client, json, ssl, sys, uuid
target, ca, secret_file, origin, commit = sys.argv[1:]
secret = open(secret_file).read().strip().encode()
body = json.dumps({"ref": "refs/heads/main", "after": commit,
                   "repository": {"full_name": "demo/blueprints", "clone_url": "file://" + origin}}).encode()
headers = {"Content-Type": "application/json", "X-GitHub-Event": "push",
           "X-GitHub-Delivery": str(uuid.uuid4()),
           "X-Hub-Signature-256": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()}
host, port = target.rsplit(":", 1)
for attempt in ("delivery", "redelivery (same id)"):
    c = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=ca), timeout=10)
    c.request("POST", "/hooks/github", body=body, headers=headers)
    r = c.getresponse()
    print(f"  {attempt}: HTTP {r.status} {r.read().decode()}")
PY
for _ in $(seq 1 200); do
  rid3=$(ctl -o json trigger show hello-edge | python3 -c 'import json,sys; t=json.load(sys.stdin); print(t.get("running_rollout") or "")')
  [ -n "$rid3" ] && break; sleep 0.1
done
[ -n "$rid3" ] || { echo "the trigger started no rollout"; ctl trigger show hello-edge; ctl source show blueprints; exit 1; }
echo "the push made a new revision of hello and the trigger started rollout $rid3"
ctl rollout watch "$rid3"
ctl blueprint revisions hello
ctl receiver deliveries github

say "checking the sitesim journal (the 200 simulated sites): at most one effect per step, fencing never went backwards"
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
ctl auth token create --role viewer --ttl 24h --description "demo map view" --out "$WORK/viewer.token" >/dev/null
say "the map view: https://$target/ui/ (a member still running; the CA is $TLS/ca.pem), log in with the token in $WORK/viewer.token"
if [ -n "${MOOR_DEMO_KEEP:-}" ]; then
  echo "MOOR_DEMO_KEEP is set: the cluster stays up for a look at the map; Ctrl-C stops it"
  wait "${pids[@]}" 2>/dev/null || true
else
  echo "(the cluster stops with the demo; run MOOR_DEMO_KEEP=1 make demo to keep it up)"
fi
say "done; logs, data and the journal are in $WORK"
