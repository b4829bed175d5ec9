#!/usr/bin/env bash
# The `make run` demo: ganglion on the simulated board with the example rules, talking to a
# Mosquitto broker on 127.0.0.1:1883. When no broker answers there, one is started for the
# demo (in its own process group, so Ctrl-C stops ganglion first and it can still say
# `offline`) and stopped when ganglion exits.
set -euo pipefail
bin=${1:-.build/release/ganglion}
config=${2:-Hardware/demo.yaml}
host=127.0.0.1
port=1883

broker_pid=""
cleanup() {
  if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null || true; fi
  if [ -n "${broker_dir:-}" ]; then rm -rf "$broker_dir"; fi
}
trap cleanup EXIT

if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "demo: using the MQTT broker already on $host:$port"
else
  broker_dir=$(mktemp -d)
  cat >"$broker_dir/mosquitto.conf" <<CONF
listener $port $host
allow_anonymous true
set_tcp_nodelay true
persistence false
CONF
  setsid mosquitto -c "$broker_dir/mosquitto.conf" >"$broker_dir/mosquitto.log" 2>&1 &
  broker_pid=$!
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && break
    kill -0 "$broker_pid" 2>/dev/null || { cat "$broker_dir/mosquitto.log"; exit 3; }
    sleep 0.1
  done
  echo "demo: started a Mosquitto broker on $host:$port (pid $broker_pid)"
fi

cat <<HINT
demo: in another terminal, in this folder:
  mosquitto_sub -t 'ganglion/#' -v
  $bin inject hallway.motion on
  $bin inject hallway.lux 12
  $bin status
  $bin log tail
demo: Ctrl-C stops the daemon.
HINT
"$bin" run --simulate --print-events --config "$config"
