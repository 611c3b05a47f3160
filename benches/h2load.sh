#!/usr/bin/env bash
# The external cross-check of the webhook's throughput (BENCHMARKS.md, "Webhook under
# load"): h2load (Debian's nghttp2-client), 25 HTTP/1.1 keep-alive TLS connections, the
# 41 KB UPDATE review of benches/, against `dsguard serve` (release build, the 13-node
# example inventory) and, side by side in the same run, nginx answering a fixed 200 to the
# same POSTs over the same certificate. Also, to split the cost: the same number of bytes
# refused at the first one (what receiving costs), and a GET to each server. Prints
# requests/s and the server processes' CPU time per request (from /proc/PID/stat, all
# threads; nginx: master and workers).
#
#   benches/h2load.sh [SECONDS] [ROUNDS]
#
# Installs nghttp2-client and nginx-light when missing (Debian/Ubuntu, as root).
set -euo pipefail
seconds=${1:-15}
rounds=${2:-2}
cd "$(dirname "$0")/.."

if ! command -v h2load >/dev/null || ! command -v nginx >/dev/null; then
  apt-get install -y -q nghttp2-client nginx-light >/dev/null
fi
cargo build -q --release --bin dsguard

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"' EXIT
target/release/dsguard certs --out "$work/certs" --dns localhost --ip 127.0.0.1 >/dev/null 2>&1

body=benches/update-41k.json
# The same number of bytes, refused at the first one ("x" is not JSON): what receiving the
# body costs, without decoding or judging it.
not_json=$work/not-json.txt
{ printf x; head -c $(( $(stat -c %s "$body") - 1 )) /dev/zero | tr '\0' ' '; } > "$not_json"
dsguard_port=18443
nginx_port=18444
RUST_LOG=warn target/release/dsguard serve --nodes examples/nodes.yaml \
  --listen "127.0.0.1:$dsguard_port" --metrics-listen off \
  --tls-cert "$work/certs/tls.crt" --tls-key "$work/certs/tls.key" 2>/dev/null &
dsguard_pid=$!

# nginx: read the body (as any server must) and answer a fixed allowed review.
cat > "$work/nginx.conf" <<EOF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_buffer_size 64k;
  client_max_body_size 8m;
  keepalive_requests 1000000;
  client_body_temp_path $work/body;
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $work/certs/tls.crt;
    ssl_certificate_key $work/certs/tls.key;
    location / {
      default_type application/json;
      return 200 '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"x","allowed":true}}';
    }
  }
}
EOF
nginx -c "$work/nginx.conf"

for _ in $(seq 50); do
  curl -skf "https://127.0.0.1:$dsguard_port/healthz" >/dev/null && break
  sleep 0.1
done

# CPU seconds used so far by the given processes (utime + stime, all threads).
cpu_ticks() {
  local total=0
  for pid in "$@"; do
    # Fields 14 and 15 of /proc/PID/stat, after the ")" that ends the command name.
    read -r utime stime < <(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12, $13}')
    total=$((total + utime + stime))
  done
  echo "$total"
}
nginx_pids() { echo "$(cat "$work/nginx.pid") $(pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' ')"; }
hz=$(getconf CLK_TCK)

run() { # name method url body pids...
  local name=$1 method=$2 url=$3 body=$4; shift 4
  local before after out requests rps
  before=$(cpu_ticks "$@")
  if [ "$method" = POST ]; then
    out=$(h2load --h1 -c 25 -m 1 -D "$seconds" -d "$body" \
      -H 'content-type: application/json' "$url" 2>&1)
  else
    out=$(h2load --h1 -c 25 -m 1 -D "$seconds" "$url" 2>&1)
  fi
  after=$(cpu_ticks "$@")
  requests=$(echo "$out" | awk '/^requests:/ {print $6}')
  succeeded=$(echo "$out" | awk '/^requests:/ {print $8}')
  rps=$(echo "$out" | awk '/^finished in/ {print $4}')
  local cpu_us=$(( (after - before) * 1000000 / hz / (requests > 0 ? requests : 1) ))
  printf '%-44s %10s req/s  %6s µs server CPU per request  (%s done, %s 2xx)\n' \
    "$name" "$rps" "$cpu_us" "$requests" "$succeeded"
}

echo "h2load --h1, 25 connections, ${seconds} s per run, body $(stat -c %s "$body") bytes"
for round in $(seq "$rounds"); do
  echo "round $round"
  run "dsguard POST /validate" POST "https://127.0.0.1:$dsguard_port/validate" "$body" "$dsguard_pid"
  run "dsguard POST, receive only (400)" POST "https://127.0.0.1:$dsguard_port/validate" "$not_json" "$dsguard_pid"
  run "nginx POST (fixed 200)" POST "https://127.0.0.1:$nginx_port/validate" "$body" $(nginx_pids)
  run "dsguard GET /healthz" GET "https://127.0.0.1:$dsguard_port/healthz" "" "$dsguard_pid"
  run "nginx GET (fixed 200)" GET "https://127.0.0.1:$nginx_port/healthz" "" $(nginx_pids)
done
