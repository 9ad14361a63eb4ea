#!/usr/bin/env bash
# actgate vs an nginx mTLS reverse proxy, side by side on one machine.
#
#   bench/compare.sh [--quick] [--rounds N] [--out DIR]
#
# Both proxies get the same certificates (ECDSA P-256, TLS 1.3, client
# certificate required), the same fixed upstream (an nginx `return 200`
# location, and the built-in example agent for SSE), one worker each, pinned
# to core 0; the load generator (actgate-load) runs on the other cores.
# Scenarios run alternately (A B, then B A) for N rounds; the summary prints
# medians, min–max and the ratio actgate/nginx per figure. --quick (one short
# round) exists so a test can run the script and it cannot rot.
#
# Binaries: $ACTGATE_BIN and $ACTGATE_LOAD_BIN if set, else a release build.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QUICK=0
ROUNDS=5
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; ROUNDS=1; shift ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "usage: $0 [--quick] [--rounds N] [--out DIR]" >&2; exit 2 ;;
  esac
done

if [ "$QUICK" = 1 ]; then
  DUR=1s; WARM=200ms; IDLE=200; H1C=10; H2C=2; NEWC=4; SSEC=4
else
  DUR=3s; WARM=1s; IDLE=10000; H1C=50; H2C=10; NEWC=16; SSEC=20
fi

log() { echo "[compare] $*" >&2; }

# --- tools -------------------------------------------------------------------
if ! command -v nginx >/dev/null 2>&1; then
  log "installing nginx (Debian package)"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
  else
    echo "nginx is missing and this is not root: install the Debian package nginx" >&2; exit 1
  fi
fi
command -v python3 >/dev/null || { echo "python3 is needed for the summary" >&2; exit 1; }

if [ -z "${ACTGATE_BIN:-}" ] || [ -z "${ACTGATE_LOAD_BIN:-}" ]; then
  log "building release binaries"
  (cd "$ROOT" && cargo build --release --bins -q)
  ACTGATE_BIN="$ROOT/target/release/actgate"
  ACTGATE_LOAD_BIN="$ROOT/target/release/actgate-load"
fi

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

NCPU=$(nproc)
if [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
  PIN_SERVER="taskset -c 0"
  PIN_LOAD="taskset -c 1-$((NCPU - 1))"
else
  log "fewer than 2 cores (or no taskset): not pinning; figures are less meaningful"
  PIN_SERVER=""; PIN_LOAD=""
fi

# --- work dir, certificates, ports --------------------------------------------
if [ -z "$OUT" ]; then OUT=$(mktemp -d /tmp/actgate-bench.XXXXXX); fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  [ -f "$OUT/nginx-up.pid" ] && kill "$(cat "$OUT/nginx-up.pid")" 2>/dev/null || true
  [ -f "$OUT/nginx-proxy.pid" ] && kill "$(cat "$OUT/nginx-proxy.pid")" 2>/dev/null || true
}
trap cleanup EXIT

"$ACTGATE_BIN" certs init --trust-domain example.org --out "$OUT/certs" >/dev/null
C="$OUT/certs"
"$ACTGATE_BIN" keys generate --algorithm EdDSA --out "$C/token-signing-eddsa.key" >/dev/null 2>&1 || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP_PORT=$(free_port); SSE_PORT=$(free_port); NGX_PORT=$(free_port)
AG_PORT=$(free_port); AGN_PORT=$(free_port); AGE_PORT=$(free_port)

# Up to 30 s: a debug build starting on a loaded machine (the test suite runs
# this script) can take more than a few seconds. On failure, say which
# service and show the end of its log.
wait_port() { # port [what] [log file]
  for _ in $(seq 1 300); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listening on port $1${2:+ ($2)} after 30 s" >&2
  [ -n "${3:-}" ] && [ -f "$3" ] && tail -20 "$3" >&2
  exit 1
}

# --- the fixed upstreams -------------------------------------------------------
BODY=$(python3 -c 'print("x" * 862)')
cat > "$OUT/nginx-up.conf" <<EOF
worker_processes 1;
pid $OUT/nginx-up.pid;
error_log $OUT/nginx-up-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $OUT/tmp-up;
  server {
    listen 127.0.0.1:$UP_PORT;
    location / { return 200 '$BODY'; }
  }
}
EOF
mkdir -p "$OUT/tmp-up" "$OUT/tmp-proxy"
$PIN_SERVER nginx -c "$OUT/nginx-up.conf" -p "$OUT"
$PIN_SERVER "$ACTGATE_BIN" example-agent --listen "127.0.0.1:$SSE_PORT" --card "$ROOT/agent-cards/scheduler.json" \
  --stream-step-ms 0 --threads 1 >"$OUT/example-agent.log" 2>&1 &
PIDS+=($!)

# --- nginx as the mTLS reverse proxy ---------------------------------------------
cat > "$OUT/nginx-proxy.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 65536;
pid $OUT/nginx-proxy.pid;
error_log $OUT/nginx-proxy-error.log warn;
events { worker_connections 30000; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $OUT/tmp-proxy;
  upstream up  { server 127.0.0.1:$UP_PORT;  keepalive 64; }
  upstream sse { server 127.0.0.1:$SSE_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGX_PORT ssl http2;
    ssl_certificate $C/gateway.pem;
    ssl_certificate_key $C/gateway.key;
    ssl_client_certificate $C/example.org/bundle.pem;
    ssl_verify_client on;
    ssl_protocols TLSv1.3;
    # Like actgate: no resumption, every new connection is a full mTLS handshake.
    ssl_session_tickets off;
    ssl_session_cache off;
    location /agents/scheduler/ {
      proxy_pass http://up/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location /agents/sse/ {
      proxy_pass http://sse/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EOF
start_nginx_proxy() {
  if [ -f "$OUT/nginx-proxy.pid" ] && kill "$(cat "$OUT/nginx-proxy.pid")" 2>/dev/null; then
    while [ -f "$OUT/nginx-proxy.pid" ]; do sleep 0.05; done
  fi
  $PIN_SERVER nginx -c "$OUT/nginx-proxy.conf" -p "$OUT"
  wait_port "$NGX_PORT" "nginx proxy" "$OUT/nginx-proxy-error.log"
  NGX_PID=$(pgrep -P "$(cat "$OUT/nginx-proxy.pid")" | head -1)
}
wait_port "$UP_PORT" "nginx upstream" "$OUT/nginx-up-error.log"; wait_port "$SSE_PORT" "example agent" "$OUT/example-agent.log"
start_nginx_proxy

# --- actgate: cache on (ES256), mint per request (ES256), mint per request (EdDSA);
# each also takes delegated calls (a user token from the dev IdP)
write_cfg() { # name port key alg cache
  cat > "$OUT/$1.toml" <<EOF
[gateway]
listen = "127.0.0.1:$2"
issuer = "https://gateway.example.org"
public_url = "https://localhost:$2"
server_cert = "$C/gateway.pem"
server_key = "$C/gateway.key"
max_request_body = 1048576

# nginx keeps an idle keep-alive connection 75 s (keepalive_timeout); so does
# actgate here. With the 10 s default header_timeout (which also bounds the
# wait between requests) connections opened early in the idle scenario,
# which takes 10-16 s to open 10,000, would be gone before the sample.
[server]
header_timeout = "75s"
idle_timeout = "75s"

# One gateway per audit directory (a second one is refused at start).
[audit]
directory = "$OUT/audit-$1"

[[trust_domain]]
name = "example.org"
bundle = "$C/example.org/bundle.pem"

[tokens]
signing_key = "$3"
algorithm = "$4"
cache = $5

[cards]
signing_key = "$C/card-signing.key"

# The delegated scenarios' user token comes from the dev IdP key.
[[subject_issuer]]
issuer = "https://idp.example.com"
jwks = "$C/idp-jwks.json"
audience = "https://gateway.example.org"

[[agent]]
name = "scheduler"
card = "$ROOT/agent-cards/scheduler.json"
upstream = "http://127.0.0.1:$UP_PORT"

[[agent]]
name = "sse"
card = "$ROOT/agent-cards/notifier.json"
upstream = "http://127.0.0.1:$SSE_PORT"

[[rule]]
caller = "spiffe://example.org/agent/orchestrator"
agent = "scheduler"
scopes = ["calendar:write", "notify:send"]
app_only = true

[[rule]]
caller = "spiffe://example.org/agent/orchestrator"
agent = "sse"
scopes = ["notify:send"]
app_only = true
EOF
}
write_cfg actgate "$AG_PORT" "$C/token-signing.key" ES256 true
write_cfg actgate-nocache "$AGN_PORT" "$C/token-signing.key" ES256 false
write_cfg actgate-eddsa "$AGE_PORT" "$C/token-signing-eddsa.key" EdDSA false
start_actgate() { # cfg
  RUST_LOG=warn $PIN_SERVER "$ACTGATE_BIN" serve --config "$OUT/$1.toml" --threads 1 >"$OUT/$1.log" 2>&1 &
  echo $!
}
# (Each start runs in a command substitution, a subshell: record the pids here.)
AG_PID=$(start_actgate actgate); PIDS+=("$AG_PID")
restart_actgate() {
  kill "$AG_PID" 2>/dev/null || true
  while kill -0 "$AG_PID" 2>/dev/null; do sleep 0.05; done
  AG_PID=$(start_actgate actgate); PIDS+=("$AG_PID")
  wait_port "$AG_PORT" actgate "$OUT/actgate.log"
}
AGN_PID=$(start_actgate actgate-nocache); PIDS+=("$AGN_PID")
AGE_PID=$(start_actgate actgate-eddsa); PIDS+=("$AGE_PID")
wait_port "$AG_PORT" actgate "$OUT/actgate.log"; wait_port "$AGN_PORT" actgate-nocache "$OUT/actgate-nocache.log"
wait_port "$AGE_PORT" actgate-eddsa "$OUT/actgate-eddsa.log"

# A user token of the dev IdP for the delegated scenarios: alice lets the
# orchestrator act for her (may_act), valid for the whole run.
USER_TOKEN=$("$ACTGATE_BIN" token sign --key "$C/idp.key" --expires-in 24h --claims \
  '{"iss":"https://idp.example.com","sub":"alice@example.com","aud":"https://gateway.example.org","scope":"calendar:read calendar:write notify:send","may_act":{"sub":"spiffe://example.org/agent/orchestrator"}}')
DELEGATED=(--header "Authorization: Bearer $USER_TOKEN")

# --- running one measurement ------------------------------------------------------
CLIENT=(--cacert "$C/example.org/bundle.pem" --cert "$C/agents/orchestrator.pem" --key "$C/agents/orchestrator.key")
run() { # round proxy scenario port pid path [load args...]
  local round=$1 proxy=$2 scenario=$3 port=$4 pid=$5 path=$6
  shift 6
  local json
  if ! json=$($PIN_LOAD "$ACTGATE_LOAD_BIN" --url "https://localhost:$port$path" "${CLIENT[@]}" \
      --server-pid "$pid" --json "$@" 2>"$OUT/load-last.err"); then
    log "load generator failed for $proxy $scenario: $(tail -3 "$OUT/load-last.err")"
    json='{"failed": true}'
  fi
  python3 - "$round" "$proxy" "$scenario" "$json" >> "$RESULTS" <<'PY'
import json, sys
r = json.loads(sys.argv[4])
r.update({"round": int(sys.argv[1]), "proxy": sys.argv[2], "scenario": sys.argv[3]})
print(json.dumps(r))
PY
  log "$proxy $scenario: $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("rps=%s p99_us=%s errors=%s" % (r.get("rps"), r.get("latency_us_p99"), r.get("errors")))' "$json" 2>/dev/null || echo "$json")"
}

RPC=/agents/scheduler/a2a/jsonrpc
SSE=/agents/sse/a2a/jsonrpc
COMMON=(--duration "$DUR" --warmup "$WARM")

# Calibrate the fixed rate: 25% of nginx's keep-alive capacity in this run.
log "calibrating nginx capacity"
CAL=$($PIN_LOAD "$ACTGATE_LOAD_BIN" --url "https://localhost:$NGX_PORT$RPC" "${CLIENT[@]}" --json \
  --connections "$H1C" "${COMMON[@]}")
RATE=$(python3 -c 'import json,sys; print(max(50, int(json.loads(sys.argv[1])["rps"] * 0.25)))' "$CAL")
RSS_RATE=2000
[ "$QUICK" = 1 ] && RSS_RATE=200
log "fixed rate for latency: $RATE rps; steady rate for RSS: $RSS_RATE rps"

proxy_round() { # round proxy
  local r=$1 p=$2 port pid
  # Memory figures come first, from a freshly started server: after 10,000
  # connections an allocator keeps its pages, and a later reading would
  # measure the previous scenario, not this one.
  if [ "$p" = nginx ]; then start_nginx_proxy; port=$NGX_PORT; pid=$NGX_PID
  else restart_actgate; port=$AG_PORT; pid=$AG_PID; fi
  run "$r" "$p" rss_steady "$port" "$pid" "$RPC" --rate "$RSS_RATE" --connections "$H1C" "${COMMON[@]}"
  run "$r" "$p" idle_connections "$port" "$pid" "$RPC" --idle-connections "$IDLE"
  if [ "$p" = nginx ]; then start_nginx_proxy; pid=$NGX_PID
  else restart_actgate; pid=$AG_PID; fi
  run "$r" "$p" h1_keepalive "$port" "$pid" "$RPC" --connections "$H1C" "${COMMON[@]}"
  run "$r" "$p" h2_keepalive "$port" "$pid" "$RPC" --http2 --connections "$H2C" --streams 10 "${COMMON[@]}"
  if [ "$p" = actgate ]; then
    # Delegated: the user's token on every request (what agents acting for
    # a user send), next to the same call app-only.
    run "$r" actgate delegated_h1_keepalive "$port" "$pid" "$RPC" --connections "$H1C" "${DELEGATED[@]}" "${COMMON[@]}"
    run "$r" actgate-mint-es256 h1_keepalive "$AGN_PORT" "$AGN_PID" "$RPC" --connections "$H1C" "${COMMON[@]}"
    run "$r" actgate-mint-es256 delegated_h1_keepalive "$AGN_PORT" "$AGN_PID" "$RPC" --connections "$H1C" "${DELEGATED[@]}" "${COMMON[@]}"
    run "$r" actgate-mint-eddsa h1_keepalive "$AGE_PORT" "$AGE_PID" "$RPC" --connections "$H1C" "${COMMON[@]}"
  fi
  run "$r" "$p" fixed_rate "$port" "$pid" "$RPC" --rate "$RATE" --connections "$H1C" "${COMMON[@]}"
  run "$r" "$p" new_connection "$port" "$pid" "$RPC" --new-connection --connections "$NEWC" "${COMMON[@]}"
  run "$r" "$p" sse "$port" "$pid" "$SSE" --sse --method SendStreamingMessage --connections "$SSEC" "${COMMON[@]}"
}

for r in $(seq 1 "$ROUNDS"); do
  log "round $r of $ROUNDS"
  if [ $((r % 2)) = 1 ]; then
    proxy_round "$r" nginx
    proxy_round "$r" actgate
  else
    proxy_round "$r" actgate
    proxy_round "$r" nginx
  fi
done

python3 "$ROOT/bench/summarize.py" "$RESULTS" \
  --machine "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB" \
  --rounds "$ROUNDS"
log "raw results: $RESULTS"
