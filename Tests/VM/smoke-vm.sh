# shellcheck shell=dash disable=SC2317 # (functions called through check)
# smoke-vm.sh v1|v2 [MARK] -- runs INSIDE the VM (busybox sh), started by smoke.sh through run.sh.
# Exercises a gpio-sim chip with the libgpiod command line tools of the given generation
# (v1: libgpiod 1.6 `gpiod` of bookworm; v2: libgpiod 2.x tools, whose syntax differs).
# With MARK, also checks that the VM's libgpiod (libgpiod.so.2 for v1) is the marked copy
# smoke.sh passed with run.sh --lib-dir, not the host's.
# Prints one line per check and exits with the number of failed checks (0: all passed).
# It doubles as an example of a test script: . /lib/sim.sh, make a chip, drive it.
# shellcheck source-path=SCRIPTDIR source=sim.sh
. /lib/sim.sh

api=${1:?usage: smoke-vm.sh v1|v2 [MARK]}
mark=${2:-}
label=ganglion-smoke
fails=0

pass() { echo "ok   - $*"; }
fail() {
  echo "FAIL - $*"
  fails=$((fails + 1))
}
# check DESCRIPTION COMMAND [ARGS...]: runs COMMAND, reports, never stops the script.
check() {
  local desc=$1
  shift
  if "$@"; then pass "$desc"; else fail "$desc"; fi
}
# contains TEXT PATTERN: grep -E PATTERN in TEXT, and show TEXT when it is not there.
contains() {
  if printf '%s\n' "$1" | grep -qE "$2"; then return 0; fi
  printf '  expected /%s/ in:\n%s\n' "$2" "$1" | sed 's/^/  | /'
  return 1
}
# Predicates for sim_wait, which runs a command (or a function) until it succeeds.
exited() { ! kill -0 "$1" 2>/dev/null; }
absent() { ! test -e "$1"; }
line_used_by() { t_info "$1" | grep -qE "line +$2:.*$3"; } # CHIP OFFSET CONSUMER
equals() {
  [ "$1" = "$2" ] && return 0
  echo "  got '$1', expected '$2'"
  return 1
}

# The two generations of tools, behind one vocabulary. t_hold and t_mon run in the
# background (`t_hold ... &`): they exec, so that $! is the tool itself and `kill $!`
# releases the line (otherwise $! is a subshell and the tool outlives the kill).
case $api in
  v1)
    t_info() { gpioinfo "$1"; }
    t_get() { gpioget "$1" "$2"; }
    t_hold() { exec gpioset --mode=signal "$1" "$2=$3"; } # holds until a signal
    t_mon() { exec gpiomon --num-events="$3" "$1" "$2"; }
    ;;
  v2)
    t_info() { gpioinfo -c "$1"; }
    t_get() { gpioget --numeric -c "$1" "$2"; }
    t_hold() { exec gpioset -c "$1" "$2=$3"; } # v2 gpioset holds until killed by default
    t_mon() { exec gpiomon -n "$3" -c "$1" "$2"; }
    ;;
  *) echo "usage: smoke-vm.sh v1|v2" >&2; exit 2 ;;
esac

echo "# libgpiod tools: $(gpiodetect --version | head -n1)"
if [ "$api" = v2 ]; then
  # gpiodetect v2 cannot run without libgpiod.so.3, which the host does not have: it came
  # from run.sh --lib-dir.
  check "the v2 tools run with the --lib-dir libgpiod.so.3" \
    contains "$(gpiodetect --version)" 'v2\.'
  check "libgpiod.so.3 is in the VM's library folder" test -e /usr/lib/x86_64-linux-gnu/libgpiod.so.3
fi

if [ -n "$mark" ]; then
  case $api in v1) lib=libgpiod.so.2 ;; *) lib=libgpiod.so.3 ;; esac
  check "$lib is the --lib-dir copy, not the host's" grep -q "$mark" "/usr/lib/x86_64-linux-gnu/$lib"
fi

chip=$(sim_chip smoke 8 --label "$label" 3=PIR 6=LED) || { echo "FAIL - sim_chip"; exit 1; }
echo "# chip $chip ($(sim_line_dir smoke 0))"

check "gpiodetect lists $chip with its label and 8 lines" \
  contains "$(gpiodetect)" "^$chip \[$label\] \(8 lines\)"

info=$(t_info "$chip")
check "gpioinfo names line 3 PIR" contains "$info" 'line +3:.*"PIR"'
check "gpioinfo names line 6 LED" contains "$info" 'line +6:.*"LED"'
check "gpioinfo leaves line 0 unnamed" contains "$info" 'line +0:.*unnamed'

sim_pull "$chip" 3 up
check "gpioget reads 1 with line 3 pulled up" equals "$(t_get "$chip" 3)" 1
sim_pull "$chip" 3 down
check "gpioget reads 0 with line 3 pulled down" equals "$(t_get "$chip" 3)" 0
if [ "$api" = v2 ]; then
  check "gpioget finds line PIR by name" contains "$(gpioget PIR)" '"PIR"=inactive'
fi

# An output held by gpioset reads back through the simulator, against the pull.
sim_pull "$chip" 6 down
t_hold "$chip" 6 1 &
pid=$!
check "gpioset holding 6=1 drives the line high" sim_wait_value "$chip" 6 1 3000
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
sim_pull "$chip" 6 up
t_hold "$chip" 6 0 &
pid=$!
check "gpioset holding 6=0 drives the line low (pull is up)" sim_wait_value "$chip" 6 0 3000
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
check "released, line 6 falls back to its pull-up" sim_wait_value "$chip" 6 1 3000

# Three edges from the simulated pull, seen by gpiomon -n 3.
sim_pull "$chip" 3 down
t_mon "$chip" 3 3 >/tmp/mon.out 2>&1 &
pid=$!
# Edges made before gpiomon has requested the line would be lost: wait for the request.
if check "gpiomon requests line 3" sim_wait 5000 line_used_by "$chip" 3 gpiomon; then
  sim_pull "$chip" 3 up
  sim_pull "$chip" 3 down
  sim_pull "$chip" 3 up
fi
check "gpiomon exits after 3 events" sim_wait 5000 exited "$pid"
kill "$pid" 2>/dev/null
wait "$pid"
mon_status=$?
mon=$(cat /tmp/mon.out)
check "gpiomon succeeded" equals "$mon_status" 0
check "gpiomon printed 3 events" equals "$(printf '%s\n' "$mon" | grep -ciE 'rising|falling')" 3
check "gpiomon saw 2 rising edges" equals "$(printf '%s\n' "$mon" | grep -ciE 'rising')" 2
check "gpiomon saw 1 falling edge" equals "$(printf '%s\n' "$mon" | grep -ciE 'falling')" 1
printf '%s\n' "$mon" | sed 's/^/  | /'

# A burst of edges as fast as the shell can make them: how many does gpiomon see?
# Informational only: a flip made before the kernel has handled the previous one (irq_sim
# masks the line meanwhile) is lost, so unpaced bursts can lose a few percent.
sim_pull "$chip" 3 down
gpiomon_n=64
t_mon "$chip" 3 "$gpiomon_n" >/tmp/burst.out 2>&1 &
pid=$!
sim_wait 5000 line_used_by "$chip" 3 gpiomon
t0=$(sim_now_ms)
sim_toggle "$chip" 3 "$gpiomon_n" >/dev/null
t1=$(sim_now_ms)
sim_wait 3000 exited "$pid"
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
echo "# burst: $gpiomon_n edges in $((t1 - t0)) ms, gpiomon saw $(grep -ciE 'rising|falling' /tmp/burst.out)"

check "sim_remove takes the chip away" sim_remove smoke
check "its device node is gone" sim_wait 2000 absent "/dev/$chip"

echo "# $api: $fails failed"
exit "$fails"
