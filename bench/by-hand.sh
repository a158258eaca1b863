#!/usr/bin/env bash
# The baseline of the deployment-ratio benchmark (bench/run.ts): what Baton's local deployment of a
# trivial Node service does, done by hand in a shell.
#
#   1. copy the service's folder
#   2. npm install --no-audit --no-fund
#   3. start it with PORT set (the package's "start" script, `node server.js`, run directly, as Baton's
#      runtime runs it: no `npm start` wrapper in either case)
#   4. poll GET /health until it answers 200
#   5. kill it
#
# Usage: bench/by-hand.sh <service folder> <empty work folder> <port>
# Prints `ready` the moment /health answered 200 (run.ts times the run up to that line), and
# `mark <step> <time s>` lines so the steps can be timed.
set -euo pipefail

src=$1
work=$2
port=$3
mark() { echo "mark $1 $EPOCHREALTIME"; }

# The same npm setting Baton's builder uses for its npm install.
export npm_config_update_notifier=false

mark start
cp -R "$src" "$work/app"
cd "$work/app"
mark copied
npm install --no-audit --no-fund >/dev/null
mark installed

PORT=$port node server.js >/dev/null 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT

until curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || { echo "the service exited before it answered /health" >&2; exit 1; }
  sleep 0.01
done
mark healthy
echo ready

kill "$pid"
wait "$pid" 2>/dev/null || true
