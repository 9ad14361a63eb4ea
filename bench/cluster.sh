#!/usr/bin/env bash
# Sizing figures for a cluster: one actgate replica alone, and two replicas
# sharing approvals through PostgreSQL behind HAProxy (TCP mode, TLS passed
# through, so mTLS ends at the gateways), on this one machine.
#
#   bench/cluster.sh [--quick] [--out DIR]
#
# Scenarios, each against "one" (a replica, directly) and "two" (HAProxy in
# front of both replicas):
#   - plain: allowed JSON-RPC calls over keep-alive connections (HAProxy
#     spreads the connections round-robin), actgate-load closed loop;
#   - new_connection: a full mTLS handshake per request;
#   - approval: the human-approval path, one cycle at a time: the call is held
#     (an approval row created in PostgreSQL), approved through the admin API
#     of the *other* replica, retried with Actgate-Approval (consumed once);
#     the latency of each of the three steps (bench/approval_cycle.py).
# Everything (PostgreSQL, HAProxy, both replicas, the upstream and the load
# generator) shares this machine's cores, so "two" shows what a second
# replica and a load balancer cost and that nothing breaks, not how a
# cluster of separate machines scales. --quick exists so a test can run it.
#
# Binaries: $ACTGATE_BIN and $ACTGATE_LOAD_BIN if set, else a release build.
# Needs (Debian): postgresql, haproxy, python3; runs PostgreSQL as `nobody`.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QUICK=0
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "usage: $0 [--quick] [--out DIR]" >&2; exit 2 ;;
  esac
done
if [ "$QUICK" = 1 ]; then DUR=1s; WARM=200ms; CONNS=8; NEWC=2; CYCLES=5
else DUR=5s; WARM=1s; CONNS=32; NEWC=8; CYCLES=200; fi

log() { echo "[cluster] $*" >&2; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "no /usr/lib/postgresql/*/bin/initdb: install the Debian package postgresql" >&2; exit 1; }
command -v haproxy >/dev/null || { echo "haproxy is missing: install the Debian package haproxy" >&2; exit 1; }

if [ -z "${ACTGATE_BIN:-}" ] || [ -z "${ACTGATE_LOAD_BIN:-}" ]; then
  log "building release binaries"
  (cd "$ROOT" && cargo build --release --bins -q)
  ACTGATE_BIN="$ROOT/target/release/actgate"
  ACTGATE_LOAD_BIN="$ROOT/target/release/actgate-load"
fi
ulimit -n 65536 2>/dev/null || true

if [ -z "$OUT" ]; then OUT=$(mktemp -d /tmp/actgate-cluster.XXXXXX); fi
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
RESULTS="$OUT/results.jsonl"; : > "$RESULTS"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  [ -d "$OUT/pg/data" ] && runuser -u nobody -- "$PGBIN/pg_ctl" -D "$OUT/pg/data" -m immediate stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # port what log
  for _ in $(seq 1 300); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listening on port $1 ($2) after 30 s" >&2; [ -f "${3:-}" ] && tail -20 "$3" >&2; exit 1
}

"$ACTGATE_BIN" certs init --trust-domain example.org --out "$OUT/certs" >/dev/null
C="$OUT/certs"
UP=$(free_port); A=$(free_port); B=$(free_port); AADM=$(free_port); BADM=$(free_port)
AH=$(free_port); BH=$(free_port); LB=$(free_port); PG=$(free_port)

# --- PostgreSQL (as nobody: it refuses root) ----------------------------------
log "starting PostgreSQL on 127.0.0.1:$PG"
mkdir -p "$OUT/pg"; chown nobody "$OUT/pg"
PW=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
echo "$PW" > "$OUT/pg/pw"; chown nobody "$OUT/pg/pw"
runuser -u nobody -- "$PGBIN/initdb" -D "$OUT/pg/data" -U actgate -A scram-sha-256 --no-sync \
  -E UTF8 --pwfile="$OUT/pg/pw" >"$OUT/pg/initdb.log" 2>&1
rm -f "$OUT/pg/pw"
runuser -u nobody -- "$PGBIN/pg_ctl" -D "$OUT/pg/data" -l "$OUT/pg/server.log" -w \
  -o "-p $PG -c listen_addresses=127.0.0.1 -c unix_socket_directories=$OUT/pg" start >/dev/null
printf 'postgresql://actgate:%s@127.0.0.1:%s/postgres\n' "$PW" "$PG" > "$OUT/postgres-url"
chmod 600 "$OUT/postgres-url"

# --- the upstream: the built-in example agent ---------------------------------
"$ACTGATE_BIN" example-agent --listen "127.0.0.1:$UP" --card "$ROOT/agent-cards/scheduler.json" \
  --stream-step-ms 0 --threads 1 >"$OUT/example-agent.log" 2>&1 &
PIDS+=($!)
wait_port "$UP" "example agent" "$OUT/example-agent.log"

# --- two replicas, one database -----------------------------------------------
write_cfg() { # name port admin health
  cat > "$OUT/$1.toml" <<EOF
[gateway]
listen = "127.0.0.1:$2"
issuer = "https://gateway.example.org"
public_url = "https://localhost:$LB"
server_cert = "$C/gateway.pem"
server_key = "$C/gateway.key"
admin_listen = "127.0.0.1:$3"
health_listen = "127.0.0.1:$4"

[[trust_domain]]
name = "example.org"
bundle = "$C/example.org/bundle.pem"

[tokens]
signing_key = "$C/token-signing.key"

[cards]
signing_key = "$C/card-signing.key"

[[agent]]
name = "scheduler"
card = "$ROOT/agent-cards/scheduler.json"
upstream = "http://127.0.0.1:$UP"

[[agent]]
name = "bank"
card = "$ROOT/agent-cards/scheduler.json"
upstream = "http://127.0.0.1:$UP"

[[rule]]
caller = "spiffe://example.org/agent/orchestrator"
agent = "scheduler"
scopes = ["calendar:write", "notify:send"]
app_only = true

[[rule]]
caller = "spiffe://example.org/agent/orchestrator"
agent = "bank"
scopes = ["calendar:write", "notify:send"]
app_only = true
approval = "human"

[approvals]
max_pending = 100000
max_pending_per_caller = 100000

[state]
backend = "postgres"
url_file = "$OUT/postgres-url"
replica = "$1"

[audit]
directory = "$OUT/audit-$1"
EOF
}
write_cfg a "$A" "$AADM" "$AH"; write_cfg b "$B" "$BADM" "$BH"
for r in a b; do
  RUST_LOG=warn "$ACTGATE_BIN" serve --config "$OUT/$r.toml" >"$OUT/$r.log" 2>&1 &
  PIDS+=($!); eval "PID_$r=$!"
done
wait_port "$A" "replica a" "$OUT/a.log"; wait_port "$B" "replica b" "$OUT/b.log"

# --- HAProxy: TCP mode, TLS passed through --------------------------------------
cat > "$OUT/haproxy.cfg" <<EOF
global
    maxconn 4000
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend gateway
    bind 127.0.0.1:$LB
    default_backend replicas
backend replicas
    balance roundrobin
    server a 127.0.0.1:$A check port $AH inter 1s
    server b 127.0.0.1:$B check port $BH inter 1s
EOF
haproxy -db -f "$OUT/haproxy.cfg" >"$OUT/haproxy.log" 2>&1 &
PIDS+=($!)
wait_port "$LB" haproxy "$OUT/haproxy.log"
sleep 1

CLIENT=(--cacert "$C/example.org/bundle.pem" --cert "$C/agents/orchestrator.pem" --key "$C/agents/orchestrator.key")
RPC=/agents/scheduler/a2a/jsonrpc
run() { # topology scenario port [load args...]
  local top=$1 scenario=$2 port=$3 json; shift 3
  if ! json=$("$ACTGATE_LOAD_BIN" --url "https://localhost:$port$RPC" "${CLIENT[@]}" --json \
      --duration "$DUR" --warmup "$WARM" "$@" 2>"$OUT/load-last.err"); then
    log "load failed for $top $scenario: $(tail -3 "$OUT/load-last.err")"; json='{"failed": true}'
  fi
  python3 -c 'import json,sys; r=json.loads(sys.argv[3]); r.update(topology=sys.argv[1], scenario=sys.argv[2]); print(json.dumps(r))' \
    "$top" "$scenario" "$json" >> "$RESULTS"
  log "$top $scenario: $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("rps=%s p50_us=%s p99_us=%s errors=%s" % (r.get("rps"), r.get("latency_us_p50"), r.get("latency_us_p99"), r.get("errors")))' "$json")"
}
approvals() { # topology port
  python3 "$ROOT/bench/approval_cycle.py" --url "https://localhost:$2" --ca "$C/example.org/bundle.pem" \
    --cert "$C/agents/orchestrator.pem" --key "$C/agents/orchestrator.key" \
    --admin "http://127.0.0.1:$BADM" --cycles "$CYCLES" --label "$1" >> "$RESULTS"
  log "$1 approval: $(tail -1 "$RESULTS")"
}

run one plain "$A" --connections "$CONNS"
run two plain "$LB" --connections "$CONNS"
run one new_connection "$A" --new-connection --connections "$NEWC"
run two new_connection "$LB" --new-connection --connections "$NEWC"
approvals one "$A"
approvals two "$LB"

python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("%-5s %-15s %10s %10s %10s %7s" % ("", "scenario", "req/s", "p50 ms", "p99 ms", "errors"))
for r in rows:
    if r.get("scenario") == "approval":
        for step in ("held", "approve", "consume"):
            s = r[step]
            print("%-5s %-15s %10s %10.2f %10.2f %7d" % (r["topology"], "approval:" + step, "-", s["p50_ms"], s["p99_ms"], r["errors"]))
        print("%-5s %-15s %10.1f %10s %10s %7s" % (r["topology"], "approval:cycles", r["cycles_per_s"], "-", "-", "-"))
    elif not r.get("failed"):
        print("%-5s %-15s %10.0f %10.2f %10.2f %7d" % (r["topology"], r["scenario"], r["rps"], r["latency_us_p50"] / 1000, r["latency_us_p99"] / 1000, r["errors"]))
    else:
        print("%-5s %-15s FAILED" % (r["topology"], r["scenario"]))
PY
log "results: $RESULTS"
