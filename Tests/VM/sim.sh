# shellcheck shell=dash
# sim.sh: helpers for test scripts that run INSIDE the gpio-sim VM (busybox sh).
# run.sh installs this file at /lib/sim.sh; a test script starts with `. /lib/sim.sh`.
#
# A simulated chip is made through configfs (/sys/kernel/config/gpio-sim/NAME/bank0) and
# driven through sysfs (/sys/devices/platform/gpio-sim.N/gpiochipM/sim_gpioK/{pull,value}).
# Chip numbers are never assumed: the kernel picks gpiochipM and gpio-sim.N.
#
#   sim_chip NAME NUM_LINES [--label LABEL] [OFFSET=LINENAME ...]
#       Creates a chip with one bank of NUM_LINES lines, the given label and line names
#       (all must be set before the chip goes live), makes it live, waits for /dev/gpiochipM,
#       prints the chip name (gpiochipM) and sets SIM_CHIP=gpiochipM, SIM_DEV=/dev/gpiochipM,
#       SIM_SYSFS=/sys/devices/platform/gpio-sim.N/gpiochipM. Works as `chip=$(sim_chip ...)`
#       too (then only the printed name reaches the caller).
#   sim_remove NAME                     takes the chip away (its /dev/gpiochipM disappears)
#   sim_pull CHIP OFFSET up|down        sets the simulated pull: drives an input line, so a
#                                       requester with edge detection sees an edge
#   sim_value CHIP OFFSET               prints 0 or 1: the line's level. For an output, read
#                                       it while a program still holds the line (a released
#                                       line falls back to its pull)
#   sim_wait_value CHIP OFFSET EXPECTED TIMEOUT_MS
#                                       polls sim_value until it equals EXPECTED; returns 1 and
#                                       says what it saw (on stderr) when TIMEOUT_MS passes
#   sim_toggle CHIP OFFSET COUNT [DELAY_US]
#                                       COUNT edges on an input: flips the pull COUNT times,
#                                       starting from its current state, as fast as the shell
#                                       can or DELAY_US apart; prints the final level.
#                                       NB: usleep is a process start, ~10 ms under TCG,
#                                       so the real spacing is DELAY_US plus that; see
#                                       sim_pin_edge_threads for edges lost in the kernel.
#   sim_pin_edge_threads                pins the kernel threads that turn gpio-sim interrupts
#                                       into edge events (one per requested line, made when a
#                                       program requests edges) to CPU 0. irq_sim raises a
#                                       line's interrupt with the simple flow handler, which
#                                       does not mask the line while that thread runs: an
#                                       interrupt that comes before the thread ran for the
#                                       previous one is counted in /proc/interrupts but merged
#                                       into one event (under TCG a vCPU can stall for ms).
#                                       A writer on CPU 0 too (`taskset 1 edgegen ...`) is
#                                       preempted by the thread after each edge, so every
#                                       edge it makes becomes an event. Prints how many
#                                       threads it pinned.
#   sim_wait TIMEOUT_MS COMMAND [ARGS]  runs COMMAND every 10 ms until it succeeds; returns 1
#                                       after TIMEOUT_MS
#   sim_line_dir CHIP OFFSET            prints the line's sysfs folder (with pull and value)
#   sim_now_ms                          prints the uptime in ms (10 ms resolution)
# CHIP is the configfs NAME given to sim_chip, or gpiochipM, or /dev/gpiochipM.
# Helpers return 0 on success, 1 on failure (with a message on stderr), 2 on misuse.

SIM_CONFIGFS=${SIM_CONFIGFS:-/sys/kernel/config/gpio-sim}

sim__err() { echo "sim: $*" >&2; }

sim__is_uint() {
  case $1 in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac
}

sim_now_ms() {
  # /proc/uptime is "SECONDS.CC IDLE"; busybox has no date +%N.
  local up secs cs
  read -r up _ </proc/uptime
  secs=${up%.*} cs=${up#*.}
  cs=${cs#0} # "07" would be read as octal
  echo $((secs * 1000 + cs * 10))
}

sim_chip() {
  local status
  if [ $# -lt 2 ] || ! sim__is_uint "$2"; then
    sim__err "usage: sim_chip NAME NUM_LINES [--label LABEL] [OFFSET=LINENAME ...]"
    return 2
  fi
  if [ ! -d "$SIM_CONFIGFS" ]; then
    sim__err "$SIM_CONFIGFS is missing: gpio-sim is not loaded or configfs is not mounted"
    return 1
  fi
  if [ -e "$SIM_CONFIGFS/$1" ]; then
    sim__err "chip $1 exists already"
    return 1
  fi
  sim__make_chip "$@" && return 0
  status=$?
  # Leave nothing half made behind: the same NAME can be used again.
  [ ! -d "$SIM_CONFIGFS/$1" ] || sim_remove "$1" 2>/dev/null
  return $status
}

sim__make_chip() {
  local name=$1 num=$2 dir=$SIM_CONFIGFS/$1 arg off line_name
  shift 2
  if ! { mkdir "$dir" && mkdir "$dir/bank0" && echo "$num" >"$dir/bank0/num_lines"; }; then
    sim__err "cannot set up $name with $num lines"
    return 1
  fi
  while [ $# -gt 0 ]; do
    arg=$1
    shift
    case $arg in
      --label)
        [ $# -ge 1 ] || { sim__err "sim_chip: --label needs a value"; return 2; }
        # The bank's label is the chip label programs see (gpiodetect, gpiod_chip_info).
        printf '%s\n' "$1" >"$dir/bank0/label" || { sim__err "cannot set label $1"; return 1; }
        shift
        ;;
      --label=*)
        printf '%s\n' "${arg#--label=}" >"$dir/bank0/label" || { sim__err "cannot set label"; return 1; }
        ;;
      *=*)
        off=${arg%%=*} line_name=${arg#*=}
        if ! sim__is_uint "$off" || [ "$off" -ge "$num" ]; then
          sim__err "sim_chip: bad line offset in '$arg' (the chip has $num lines)"
          return 2
        fi
        if ! { mkdir -p "$dir/bank0/line$off" && printf '%s\n' "$line_name" >"$dir/bank0/line$off/name"; }; then
          sim__err "cannot name line $off"
          return 1
        fi
        ;;
      *)
        sim__err "sim_chip: unexpected argument '$arg'"
        return 2
        ;;
    esac
  done
  echo 1 >"$dir/live" || { sim__err "cannot make $name live (see dmesg)"; return 1; }
  SIM_CHIP=$(cat "$dir/bank0/chip_name")
  SIM_DEV=/dev/$SIM_CHIP
  # shellcheck disable=SC2034 # for the calling script
  SIM_SYSFS=/sys/devices/platform/$(cat "$dir/dev_name")/$SIM_CHIP
  # devtmpfs creates the node asynchronously (devtmpfsd): do not hand out a name too early.
  sim_wait 2000 test -c "$SIM_DEV" || { sim__err "$SIM_DEV did not appear"; return 1; }
  echo "$SIM_CHIP"
}

sim_remove() {
  local dir=$SIM_CONFIGFS/$1 sub
  [ -d "$dir" ] || { sim__err "no chip $1"; return 1; }
  # Writing 0 to a chip that is not live is an error (EPERM).
  [ "$(cat "$dir/live")" = 0 ] || echo 0 >"$dir/live" || return 1
  # configfs folders go bottom-up: hogs, lines, banks, then the chip.
  for sub in "$dir"/*/*/hog "$dir"/*/line* "$dir"/bank*; do
    [ -d "$sub" ] && { rmdir "$sub" || return 1; }
  done
  rmdir "$dir"
}

sim_line_dir() {
  local chip=${1#/dev/} off=$2 d
  if [ $# -ne 2 ] || ! sim__is_uint "$off"; then
    sim__err "usage: sim_line_dir CHIP OFFSET"
    return 2
  fi
  if [ -f "$SIM_CONFIGFS/$chip/dev_name" ]; then
    d=/sys/devices/platform/$(cat "$SIM_CONFIGFS/$chip/dev_name")/$(cat "$SIM_CONFIGFS/$chip/bank0/chip_name")
  else
    for d in /sys/devices/platform/gpio-sim.*/"$chip"; do break; done
  fi
  if [ ! -d "$d/sim_gpio$off" ]; then
    sim__err "no simulated line $off on chip $1"
    return 1
  fi
  echo "$d/sim_gpio$off"
}

sim_pull() {
  local dir
  case ${3:-} in
    up | pull-up | 1) set -- "$1" "$2" pull-up ;;
    down | pull-down | 0) set -- "$1" "$2" pull-down ;;
    *) sim__err "usage: sim_pull CHIP OFFSET up|down"; return 2 ;;
  esac
  dir=$(sim_line_dir "$1" "$2") || return
  echo "$3" >"$dir/pull" || { sim__err "cannot set $3 on $1 line $2"; return 1; }
}

sim_value() {
  local dir
  [ $# -eq 2 ] || { sim__err "usage: sim_value CHIP OFFSET"; return 2; }
  dir=$(sim_line_dir "$1" "$2") || return
  cat "$dir/value"
}

sim_wait() {
  local timeout=$1 deadline
  shift
  if ! sim__is_uint "$timeout" || [ $# -eq 0 ]; then
    sim__err "usage: sim_wait TIMEOUT_MS COMMAND [ARGS...]"
    return 2
  fi
  deadline=$(($(sim_now_ms) + timeout))
  until "$@"; do
    [ "$(sim_now_ms)" -lt "$deadline" ] || return 1
    usleep 10000
  done
}

sim_wait_value() {
  local dir expected=$3 timeout=$4 deadline v
  if [ $# -ne 4 ] || ! sim__is_uint "$timeout"; then
    sim__err "usage: sim_wait_value CHIP OFFSET EXPECTED TIMEOUT_MS"
    return 2
  fi
  dir=$(sim_line_dir "$1" "$2") || return
  deadline=$(($(sim_now_ms) + timeout))
  while :; do
    v=$(cat "$dir/value")
    [ "$v" = "$expected" ] && return 0
    [ "$(sim_now_ms)" -lt "$deadline" ] || break
    usleep 5000
  done
  sim__err "$1 line $2 is $v, expected $expected, after $timeout ms (pull: $(cat "$dir/pull"))"
  return 1
}

sim_toggle() {
  local dir count=$3 delay=${4:-0} i=0 next
  if [ $# -lt 3 ] || [ $# -gt 4 ] || ! sim__is_uint "$count" || ! sim__is_uint "$delay"; then
    sim__err "usage: sim_toggle CHIP OFFSET COUNT [DELAY_US]"
    return 2
  fi
  dir=$(sim_line_dir "$1" "$2") || return
  if [ "$(cat "$dir/pull")" = pull-up ]; then next=pull-down; else next=pull-up; fi
  # One open file, one write per edge: sysfs takes every write() as a new value.
  {
    while [ "$i" -lt "$count" ]; do
      echo "$next" >&3
      if [ "$next" = pull-up ]; then next=pull-down; else next=pull-up; fi
      i=$((i + 1))
      [ "$delay" -eq 0 ] || usleep "$delay"
    done
  } 3>"$dir/pull" || { sim__err "cannot toggle $1 line $2"; return 1; }
  cat "$dir/value"
}

sim_pin_edge_threads() {
  local irq pinned=0 task name
  for irq in $(awk '$(NF-2) == "irq_sim" { sub(":", "", $1); print $1 }' /proc/interrupts); do
    for task in /proc/[0-9]*; do
      read -r name 2>/dev/null <"$task/comm" || continue
      case $name in
        "irq/$irq-"*)
          taskset -p 1 "${task#/proc/}" >/dev/null || { sim__err "cannot pin $name to CPU 0"; return 1; }
          pinned=$((pinned + 1))
          ;;
      esac
    done
  done
  echo "$pinned"
}
