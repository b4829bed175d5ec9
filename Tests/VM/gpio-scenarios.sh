# shellcheck shell=dash
# gpio-scenarios.sh: Ganglion against real GPIO character devices, INSIDE the gpio-sim VM
# (busybox sh). gpio-tests.sh runs it once per libgpiod version:
#
#   gpio-scenarios.sh v1|v2
#
# with /usr/bin/ganglion (built against that libgpiod), /usr/bin/edgegen and /lib/sim.sh.
# Each scenario prints "ok - NAME" or "not ok - NAME: why"; the exit status is the number of
# failed scenarios (0: all passed).
. /lib/sim.sh

api=${1:?usage: gpio-scenarios.sh v1|v2}
G=/tmp/g
failures=0
pass() { echo "ok - $1"; }
fail() {
  echo "not ok - $1"
  failures=$((failures + 1))
}

# A chip found by its label, with line names; lines 1, 3, 6 are outputs by offset.
chip=$(sim_chip ganglion-sim 10 --label ganglion-sim 0=PIR 2=REED 4=BUTTON 5=METER 7=FAST 8=PULSES) || {
  echo "not ok - the simulated chip could not be made"
  exit 1
}
line() { echo "$(sim_line_dir "$chip" "$1")"; }

mkdir -p $G
cat >$G/ganglion.yaml <<YAML
device: vm
rules: rules.yaml
log: { dir: $G/log }
http: { listen: 127.0.0.1:9120 }
signals:
  hall.motion:
    gpio: { chip: ganglion-sim, line: PIR, bias: pull-down }
  hall.light:
    gpio: { chip: $chip, line: 1, output: true }
  porch.light:
    gpio: { chip: /dev/$chip, line: 6, output: true, initial: on }
  door.closed:
    gpio: { chip: ganglion-sim, line: REED, bias: pull-up, active_low: true }
  door.lamp:
    gpio: { chip: ganglion-sim, line: 3, output: true }
  button:
    gpio: { chip: ganglion-sim, line: BUTTON, bias: pull-down, debounce: 50ms }
  water.litres:
    gpio: { chip: ganglion-sim, line: METER, bias: pull-down, count: rising }
  pulses:
    gpio: { chip: ganglion-sim, line: PULSES, bias: pull-down, count: both }
  fast.input:
    gpio: { chip: ganglion-sim, line: FAST }
YAML
cat >$G/rules.yaml <<YAML
rules:
  - name: light-on
    when: hall.motion
    do:
      - set: { hall.light: on }
  - name: light-off
    when: not hall.motion
    do:
      - set: { hall.light: off }
  - name: door-lamp
    on: door.closed
    do:
      - set: { door.lamp: value }
  - name: fast-porch-off
    when: fast.input
    do:
      - set: { porch.light: off }
YAML

ganglion() { /usr/bin/ganglion "$@"; }
daemon_pid=
start_daemon() {
  # The binary itself, not the shell function: $! must be the daemon's pid.
  /usr/bin/ganglion run --config $G/ganglion.yaml >>$G/daemon.log 2>&1 &
  daemon_pid=$!
  sim_wait 20000 ganglion status --config $G/ganglion.yaml >/dev/null 2>&1
}
stop_daemon() {
  kill -TERM "$daemon_pid" 2>/dev/null
  wait "$daemon_pid"
}
# The value of a signal in `ganglion status --json`: true, false, a number, or null.
value_of() {
  ganglion status --config $G/ganglion.yaml --json | grep -o "\"$1\":{[^}]*}" | sed -n 's/.*"value":\([^,}]*\).*/\1/p'
}
wait_value() { # SIGNAL EXPECTED TIMEOUT_MS
  sim_wait "$3" sh -c "[ \"\$(/usr/bin/ganglion status --config $G/ganglion.yaml --json | grep -o '\"$1\":{[^}]*}' | sed -n 's/.*\"value\":\([^,}]*\).*/\1/p')\" = '$2' ]"
}
events() { ganglion log export --config $G/ganglion.yaml --format jsonl; }

# 1. Start-up: outputs driven first (porch.light initial on), inputs read (bias and
#    active_low: a reed switch with pull-up reads open), the counter at 0.
if start_daemon; then
  pass "the daemon starts on a chip found by label, lines by name"
else
  fail "the daemon starts: $(tail -5 $G/daemon.log)"
  exit 1
fi
[ "$(sim_value "$chip" 6)" = 1 ] && pass "an output with initial on is driven at start-up" ||
  fail "porch.light line is $(sim_value "$chip" 6), expected 1"
[ "$(sim_value "$chip" 1)" = 0 ] && pass "an output without initial starts off" || fail "hall.light is not 0"
[ "$(value_of door.closed)" = false ] && pass "pull-up + active_low: an open reed switch reads false" ||
  fail "door.closed is $(value_of door.closed) at start"
[ "$(value_of water.litres)" = 0 ] && pass "a pulse counter starts at 0" || fail "water.litres is $(value_of water.litres)"

# 2. Motion edge in -> rule -> output line level.
sim_pull "$chip" 0 up
sim_wait_value "$chip" 1 1 3000 && pass "a motion edge drives the light through a rule" || fail "the light did not go on"
sim_pull "$chip" 0 down
sim_wait_value "$chip" 1 0 3000 && pass "the light follows the motion off" || fail "the light did not go off"

# 3. Active-low input: closing the switch pulls the line to ground: true.
sim_pull "$chip" 2 down
wait_value door.closed true 3000 && sim_wait_value "$chip" 3 1 3000 && pass "closing an active-low switch reads true" ||
  fail "door.closed is $(value_of door.closed), lamp $(sim_value "$chip" 3)"

# 4. gpio list: the label, the line names, and who uses the lines.
list=$(ganglion gpio list)
echo "$list" | grep -q "\[ganglion-sim\]" && echo "$list" | grep -q '"PIR"' &&
  echo "$list" | grep "line   0:" | grep -q 'used by "ganglion"' && pass "gpio list shows labels, names and users" ||
  fail "gpio list: $list"
ganglion check --hardware --config $G/ganglion.yaml >$G/check.out 2>&1 && fail "check --hardware passed while the lines are in use" ||
  { grep -q "in use by 'ganglion'" $G/check.out && pass "check --hardware names the program using a line" ||
    fail "check --hardware: $(cat $G/check.out)"; }

# 5. Debounce (50 ms): a burst of 2 ms bounces that ends high is one change; a 5 ms glitch
#    is none.
edgegen "$(line 4)/pull" 7 2000 up >/dev/null # up, down, ... up: ends high
wait_value button true 3000 || fail "the button did not read true after the burst"
count_before=$(events | grep -c '"signal":"button"')
edgegen "$(line 4)/pull" 2 5000 down >/dev/null # down, and up again 5 ms later: a glitch
sleep 1
count_after=$(events | grep -c '"signal":"button"')
presses=$(events | grep '"signal":"button"' | grep -v '"source":"system"' | grep -c '"value":true')
[ "$presses" = 1 ] && [ "$count_after" = "$count_before" ] && pass "debounce: a bouncing press is one event, a glitch none" ||
  fail "debounce: $presses presses, $count_before then $count_after button events"

# 6. Pulse counters: 1,000 edges 5 ms apart, none lost (a `count: both` counter counts each;
#    a `count: rising` one, 10 pulses, counts 10). Faster than that, gpio-sim itself drops
#    flips under emulation before any kernel queue sees them (see sim.sh); real rates are
#    measured by `make bench`.
edgegen "$(line 8)/pull" 1000 5000 up >/dev/null
edgegen "$(line 5)/pull" 20 5000 up >/dev/null
if wait_value pulses 1000 20000 && wait_value water.litres 10 5000; then
  pass "pulse counters count 1000 edges at 200 Hz, and rising edges only"
else
  fail "pulses is $(value_of pulses), water.litres $(value_of water.litres)"
fi
events | grep -q '"edges lost"' && fail "edges were reported lost during the counter run" || pass "no edge was lost"

# 7. Lost edges: stopped (SIGSTOP), the daemon cannot read; more edges than the kernel
#    queues (16 with libgpiod 1.x, 256 with 2.x) are reported when it reads again. 601 edges
#    end high: 1.x keeps the first 16 (the last of them low), 2.x the newest 256.
kill -STOP "$daemon_pid"
edgegen "$(line 7)/pull" 601 300 up >/dev/null
kill -CONT "$daemon_pid"
if sim_wait 10000 sh -c "/usr/bin/ganglion log export --config $G/ganglion.yaml | grep -q '\"edges lost\"'"; then
  report=$(events | grep '"edges lost"' | head -1)
  if [ "$api" = v2 ]; then
    count=$(echo "$report" | sed -n 's/.*"count":\([0-9]*\).*/\1/p')
    [ -n "$count" ] && [ "$count" -gt 0 ] && [ "$count" -le 345 ] && pass "v2 counts the lost edges exactly ($count)" ||
      fail "v2 lost-edge report: $report"
  else
    echo "$report" | grep -q '"count":null' && pass "v1 reports a full kernel queue (count unknown)" ||
      fail "v1 lost-edge report: $report"
  fi
else
  fail "no lost-edge report after an overflow: $(tail -3 $G/daemon.log)"
fi
wait_value fast.input true 5000 && pass "after an overflow the input ends at the line's level" ||
  fail "fast.input is $(value_of fast.input)"

# 8. A restart re-reads the inputs and fires no rule: fast.input is high when the daemon
#    starts again (no bias on it, so the request keeps the simulated level); at start-up it
#    reads true, and `fast-porch-off` (when: fast.input) does not fire: porch.light stays at
#    its initial on.
stop_daemon && pass "SIGTERM stops the daemon with status 0" || fail "the daemon exited with $?"
sim_pull "$chip" 7 up
start_daemon || fail "the daemon restarts"
starts=$(events | grep -c '"event":"start"')
after_restart=$(events | awk -v n="$starts" '/"event":"start"/ {seen++} seen == n')
echo "$after_restart" | grep '"signal":"fast.input"' | grep '"source":"system"' | grep -q '"value":true' &&
  ! echo "$after_restart" | grep -q '"kind":"fired"' && [ "$(sim_value "$chip" 6)" = 1 ] &&
  pass "a restart reads the inputs without firing rules" || fail "after the restart: $after_restart"
stop_daemon

# 9. Errors named clearly: a missing chip, and a permission problem (not root).
sed 's/chip: ganglion-sim, line: PIR/chip: no-such-chip, line: 3/' $G/ganglion.yaml >$G/missing.yaml
cp $G/rules.yaml $G/missing-rules.yaml
ganglion check --hardware --config $G/missing.yaml >$G/missing.out 2>&1
grep -q "signal 'hall.motion': no-such-chip line 3: cannot open chip 'no-such-chip'" $G/missing.out &&
  pass "a missing chip is one error naming the signal, chip and line" || fail "missing chip: $(cat $G/missing.out)"
chmod 644 $G/ganglion.yaml $G/rules.yaml
chmod 755 $G
su -s /bin/sh nobody -c "/usr/bin/ganglion check --hardware --config $G/ganglion.yaml" >$G/perm.out 2>&1
grep -q "gpio' group" $G/perm.out && pass "a permission problem names the gpio group" ||
  fail "permission: $(cat $G/perm.out)"

echo "gpio-scenarios $api: $failures failed"
exit "$failures"
