#!/usr/bin/env bash
# Load benchmark: how fast the form is served and how many signups per second are
# stored durably (SQLite WAL, synchronous=FULL), and how much memory that takes.
# Runs the release binary in demo mode on a temporary database, drives it with wrk on
# loopback, and prints a summary. Not part of CI: shared machines make timings noisy.
#
#   bench/load.sh [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

duration="${1:-10}"
port=18093
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet

workdir="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$workdir"' EXIT
cat > "$workdir/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
counter = 0
request = function()
  counter = counter + 1
  local body = "first_name=Ada&last_name=Lovelace&phone=5551234567&marketing_consent=on"
    .. "&email=visitor" .. counter .. "%40example.com"
  return wrk.format(nil, "/", nil, body)
end
LUA

PORT=$port DATABASE_URL="sqlite://$workdir/bench.db" RUST_LOG=warn \
  RATE_LIMIT_PER_MINUTE=100000000 RATE_LIMIT_BURST=100000000 \
  ./target/release/clover-signup > "$workdir/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

echo "== GET / (the form), ${duration}s, 16 connections"
wrk -t1 -c16 -d"${duration}s" --latency "http://127.0.0.1:$port/" | grep -E 'Latency|50%|99%|Requests/sec'
echo "== POST / (a signup stored durably, then 303), ${duration}s, 16 connections"
wrk -t1 -c16 -d"${duration}s" --latency -s "$workdir/post.lua" "http://127.0.0.1:$port/" | grep -E 'Latency|50%|99%|Requests/sec|Non-2xx'
sleep 2
echo "== memory"
grep -E 'VmHWM|VmRSS' "/proc/$pid/status"
echo "== stored"
curl -fs "http://127.0.0.1:$port/admin/status.json" | grep -o '"queue":{[^}]*}'
