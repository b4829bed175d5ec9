#!/usr/bin/env bash
# Smoke test of the Home Assistant test peer, with MQTT discovery published by hand.
#
#   Tests/HomeAssistant/smoke.sh
#
# Starts a private mosquitto on a free loopback port (20000-31999), starts Home Assistant
# 2024.3.3 against it with ha_peer.py, publishes retained discovery configs for one
# binary_sensor and one switch under one device, and checks (always by polling with a
# deadline, never by sleeping) entities, device, live state, availability, a command
# from Home Assistant, and removal. Cleans up everything on exit, also on failure.
#
# Environment: GANGLION_HA_DIR (prepare.sh's DIR, default <repo>/.build/homeassistant;
# prepare.sh runs first and returns at once when already done), KEEP=1 keeps the work
# directory (config dir, HA log, broker log) for inspection.
# Exit codes: 0 every check passed, 1 a check failed, 2 a tool is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
ha_dir="${GANGLION_HA_DIR:-$repo/.build/homeassistant}"
peer=(python3 "$here/ha_peer.py")
t0=$(date +%s)

for tool in python3 mosquitto mosquitto_pub mosquitto_sub flock stdbuf; do
  command -v "$tool" >/dev/null || { echo "smoke: $tool is missing" >&2; exit 2; }
done

"$here/prepare.sh" "$ha_dir"

work="$(mktemp -d "${TMPDIR:-/tmp}/ganglion-ha-smoke.XXXXXX")"
broker_pid="" ha_pid="" sub_pid="" passed=0 failed=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$sub_pid" ]; then kill "$sub_pid" 2>/dev/null || true; fi
  if [ -z "$ha_pid" ] && [ -s "$work/start.json" ]; then # killed right after start
    ha_pid="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$work/start.json" 2>/dev/null || true)"
  fi
  if [ -n "$ha_pid" ]; then "${peer[@]}" stop --pid "$ha_pid" >/dev/null || true; fi
  if [ -n "$broker_pid" ]; then
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "smoke: kept $work"; else rm -rf "$work"; fi
  [ "$rc" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
  echo "smoke: took $(($(date +%s) - t0)) s"
  echo "smoke: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && exit "$rc" || exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass() { passed=$((passed + 1)); echo "smoke: ok   $*"; }
fail() {
  failed=$((failed + 1))
  echo "smoke: FAIL $*" >&2
  if [ -f "$work/ha/home-assistant.log" ]; then
    echo "--- tail of the Home Assistant log" >&2
    tail -n 40 "$work/ha/home-assistant.log" >&2
  fi
  exit 1
}
check() { # check DESCRIPTION COMMAND...
  local what="$1"
  shift
  if "$@" >"$work/last.out" 2>&1; then pass "$what"; else cat "$work/last.out" >&2; fail "$what"; fi
}

# --- a private broker on a free port -------------------------------------------------
for _ in 1 2 3 4 5 6 7 8 9 10; do
  port=$((20000 + RANDOM % 12000))
  mosquitto -p "$port" >"$work/mosquitto.log" 2>&1 &
  broker_pid=$!
  deadline=$(($(date +%s) + 10))
  until mosquitto_pub -p "$port" -t smoke/probe -n 2>/dev/null; do
    if ! kill -0 "$broker_pid" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
      kill "$broker_pid" 2>/dev/null || true
      wait "$broker_pid" 2>/dev/null || true
      broker_pid=""
      break
    fi
    sleep 0.05
  done
  [ -n "$broker_pid" ] && break
done
[ -n "$broker_pid" ] || fail "could not start mosquitto on a free port"
pass "mosquitto listens on 127.0.0.1:$port"
pub() { mosquitto_pub -p "$port" -q 1 "$@"; }

# --- Home Assistant -------------------------------------------------------------------
"${peer[@]}" start --config-dir "$work/ha" --broker-port "$port" --ha-dir "$ha_dir" \
  >"$work/start.json" || fail "ha_peer.py start"
read -r url token ha_pid < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["url"], d["token"], d["pid"])' "$work/start.json")
pass "Home Assistant ready at $url (pid $ha_pid)"
export HA_URL="$url" HA_TOKEN="$token"

# --- discovery, by hand ---------------------------------------------------------------
device='{"identifiers": ["ganglion_demo"], "name": "demo", "manufacturer": "Ganglion", "sw_version": "0.1"}'
motion_cfg="homeassistant/binary_sensor/ganglion_demo/motion/config"
light_cfg="homeassistant/switch/ganglion_demo/light/config"
status=ganglion/demo/status
pub -r -t "$motion_cfg" -m '{"name": "Motion", "unique_id": "ganglion_demo_motion", "object_id": "demo_motion", "state_topic": "ganglion/demo/state/motion", "payload_on": "true", "payload_off": "false", "availability_topic": "'$status'", "payload_available": "online", "payload_not_available": "offline", "device": '"$device"'}'
pub -r -t "$light_cfg" -m '{"name": "Light", "unique_id": "ganglion_demo_light", "object_id": "demo_light", "state_topic": "ganglion/demo/state/light", "command_topic": "ganglion/demo/set/light", "payload_on": "true", "payload_off": "false", "availability_topic": "'$status'", "payload_available": "online", "payload_not_available": "offline", "device": '"$device"'}'
pub -r -t ganglion/demo/state/motion -m true
pub -r -t ganglion/demo/state/light -m false
pub -r -t "$status" -m online

check "binary_sensor.demo_motion is on" "${peer[@]}" wait-state --entity binary_sensor.demo_motion --state on --timeout 30
check "switch.demo_light is off" "${peer[@]}" wait-state --entity switch.demo_light --state off --timeout 30

one_device() { # EXPECTED_ENTITIES (comma-separated, sorted)
  "${peer[@]}" devices >"$work/devices.json"
  python3 - "$work/devices.json" "$1" <<'EOF'
import json, sys
devices = [d for d in json.load(open(sys.argv[1])) if ["mqtt", "ganglion_demo"] in d["identifiers"]]
assert len(devices) == 1, f"want one device with identifier mqtt/ganglion_demo, got {devices}"
d = devices[0]
want = {"name": "demo", "manufacturer": "Ganglion", "sw_version": "0.1", "entities": sys.argv[2].split(",")}
got = {k: d[k] for k in want}
assert got == want, f"device is {got}, want {want}"
print(json.dumps(d))
EOF
}
check "one device 'demo' (Ganglion 0.1) holds both entities" one_device binary_sensor.demo_motion,switch.demo_light

pub -t ganglion/demo/state/motion -m false
check "live state: binary_sensor.demo_motion follows to off" "${peer[@]}" wait-state --entity binary_sensor.demo_motion --state off --timeout 15

# --- a command from Home Assistant ----------------------------------------------------
# -d prints SUBACK once the subscription is in place, so the call cannot race it
# (stdbuf: mosquitto_sub's stdout to a file is block-buffered otherwise).
: >"$work/sub.out"
stdbuf -oL mosquitto_sub -p "$port" -d -v -C 1 -W 10 -t ganglion/demo/set/light >"$work/sub.out" 2>&1 &
sub_pid=$!
deadline=$(($(date +%s) + 10))
until grep -q SUBACK "$work/sub.out"; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "mosquitto_sub did not subscribe"
  sleep 0.05
done
check "call switch.turn_on" "${peer[@]}" call --service switch.turn_on --entity switch.demo_light
wait "$sub_pid" || true
sub_pid=""
if grep -qx "ganglion/demo/set/light true" "$work/sub.out"; then
  pass "command 'true' arrived on ganglion/demo/set/light"
else
  cat "$work/sub.out" >&2
  fail "no command 'true' on ganglion/demo/set/light"
fi
pub -r -t ganglion/demo/state/light -m true # the device confirms
check "switch.demo_light follows its state topic to on" "${peer[@]}" wait-state --entity switch.demo_light --state on --timeout 15

# --- availability ---------------------------------------------------------------------
pub -r -t "$status" -m offline
check "offline: binary_sensor.demo_motion unavailable" "${peer[@]}" wait-state --entity binary_sensor.demo_motion --state unavailable --timeout 15
check "offline: switch.demo_light unavailable" "${peer[@]}" wait-state --entity switch.demo_light --state unavailable --timeout 15
pub -r -t "$status" -m online
check "online again: switch.demo_light on" "${peer[@]}" wait-state --entity switch.demo_light --state on --timeout 15

# --- removal --------------------------------------------------------------------------
pub -r -n -t "$motion_cfg"
check "empty config removes binary_sensor.demo_motion" "${peer[@]}" wait-state --entity binary_sensor.demo_motion --state absent --timeout 15
check "the device keeps only switch.demo_light" one_device switch.demo_light

if grep -E " (ERROR|CRITICAL) " "$work/ha/home-assistant.log" >"$work/errors.txt"; then
  cat "$work/errors.txt" >&2
  fail "the Home Assistant log has errors"
fi
pass "no ERROR in the Home Assistant log"
