#!/usr/bin/env bash
# run.sh [OPTIONS] -- SCRIPT [ARGS...]
#
# Boots a throwaway QEMU VM (software emulation, no KVM needed) running Debian's kernel with
# gpio-sim loaded, runs SCRIPT in it with busybox sh, prints what the script prints, and
# exits with the script's exit status. Test scripts get real /dev/gpiochipN character
# devices with real edge events, driven through /lib/sim.sh (see sim.sh).
#
# Options:
#   --binary PATH       copy an executable to /usr/bin/<basename> in the VM, with every
#                       library `ldd` lists (at its host path) and the dynamic loader.
#                       Repeatable.
#   --lib-dir DIR       copy DIR's *.so* files into the VM's /usr/lib/x86_64-linux-gnu BEFORE
#                       the ldd libraries, so they override the host's copies; ldd also
#                       searches DIR (LD_LIBRARY_PATH). E.g. a private libgpiod v2 (see
#                       libgpiod-v2.sh). Repeatable.
#   --file SRC:DEST     copy a host file or folder to the absolute path DEST in the VM.
#                       Repeatable.
#   --timeout SECONDS   kill the VM after this long (default 60).
#   --memory SIZE       VM memory, as for qemu -m (default 512M).
#   --cpus N            virtual CPUs (default 1; TCG runs one host thread per CPU).
#   --cache DIR         prepared assets (default $GANGLION_VM_CACHE, else <repo>/.build/vm);
#                       prepared first with prepare.sh when not ready.
#   --verbose           show the whole serial console, kernel messages included.
#   -h, --help          this text.
# SCRIPT is a host file. In the VM it runs as `sh /test/<name> ARGS...` (busybox ash) from
# /tmp, as root, stdin /dev/null, after /init has mounted proc, sysfs, devtmpfs, tmpfs
# (/tmp, /run, /dev/shm), configfs at /sys/kernel/config and debugfs, loaded configfs.ko
# and gpio-sim.ko, and brought up lo (127.0.0.1). Its environment: PATH, HOME=/root,
# GANGLION_VM=1. Its stdout and stderr both reach the serial console, and so run.sh's
# stdout, with kernel messages of level crit or worse (boot and power-off are filtered).
#
# Environment: GANGLION_VM_CACHE (see --cache); GANGLION_VM_TIMING=1 prints how long the
# initramfs and the VM took, on stderr.
#
# Exit status: the script's own; 2 for a usage error; 125 when the VM could not tell
# (missing host tools or assets, prepare failure, kernel panic, timeout, QEMU failure),
# with a message on stderr saying what happened.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"
VM_DIE_STATUS=125 # every infrastructure failure is 125, never a script's status

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
  exit "${1:-0}"
}
bad_usage() { printf '%s: %s (see --help)\n' "${0##*/}" "$*" >&2; exit 2; }

binaries=() lib_dirs=() files=()
timeout=60 memory=512M cpus=1 verbose=0
cache=${GANGLION_VM_CACHE:-$repo/.build/vm}
while (($#)); do
  case $1 in
    --binary) (($# >= 2)) || bad_usage "$1 needs a value"; binaries+=("$2"); shift 2 ;;
    --lib-dir) (($# >= 2)) || bad_usage "$1 needs a value"; lib_dirs+=("$2"); shift 2 ;;
    --file) (($# >= 2)) || bad_usage "$1 needs a value"; files+=("$2"); shift 2 ;;
    --timeout) (($# >= 2)) || bad_usage "$1 needs a value"; timeout=$2; shift 2 ;;
    --memory) (($# >= 2)) || bad_usage "$1 needs a value"; memory=$2; shift 2 ;;
    --cpus) (($# >= 2)) || bad_usage "$1 needs a value"; cpus=$2; shift 2 ;;
    --cache) (($# >= 2)) || bad_usage "$1 needs a value"; cache=$2; shift 2 ;;
    --verbose) verbose=1; shift ;;
    -h | --help) usage 0 ;;
    --) shift; break ;;
    *) bad_usage "unexpected argument: $1" ;;
  esac
done
(($# >= 1)) || bad_usage "no SCRIPT after --"
script=$1
shift
[[ -f $script ]] || bad_usage "no such script: $script"
[[ $timeout =~ ^[1-9][0-9]*$ ]] || bad_usage "--timeout takes whole seconds, not '$timeout'"
[[ $memory =~ ^[1-9][0-9]*[MG]?$ ]] || bad_usage "--memory takes e.g. 512M, not '$memory'"
for b in "${binaries[@]}"; do
  [[ -f $b && -x $b ]] || bad_usage "not an executable file: $b"
done
for d in "${lib_dirs[@]}"; do [[ -d $d ]] || bad_usage "no such --lib-dir: $d"; done
for f in "${files[@]}"; do
  [[ $f == *:/* ]] || bad_usage "--file takes SRC:DEST with an absolute DEST, not '$f'"
  [[ -e ${f%%:*} ]] || bad_usage "no such --file source: ${f%%:*}"
done

vm_require qemu-system-x86_64:qemu-system-x86 /bin/busybox:busybox-static cpio:cpio gzip:gzip \
  ldd:libc-bin timeout:coreutils mkfifo:coreutils od:coreutils awk:mawk
vm_require_static_busybox

# --- Assets: the kernel and modules from prepare.sh. --------------------------------------
if [[ ! -f $cache/ready ]]; then
  vm_log "the VM cache $cache is not prepared: running prepare.sh"
  "$here/prepare.sh" "$cache" || vm_die "prepare.sh failed: the VM cannot boot"
fi
for f in vmlinux modules/configfs.ko modules/gpio-sim.ko; do
  [[ -s $cache/$f ]] || vm_die "$cache/$f is missing: delete $cache/ready and run prepare.sh"
done

# From here on, a failing command is a failure of run.sh, not of the script: 125.
trap 'vm_die "internal error at line $LINENO: $BASH_COMMAND"' ERR

t_start=$EPOCHREALTIME
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ganglion-vm.XXXXXX")
qemu_pid="" filter_pid=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  # qemu_pid is `timeout`, which passes the TERM on to QEMU.
  if [[ -n $qemu_pid ]]; then kill "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; fi
  if [[ -n $filter_pid ]]; then kill "$filter_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- The initramfs tree. -------------------------------------------------------------------
root=$tmp/root
mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib,proc,sys,dev,tmp,run,etc,root,test}
# Same merged-/usr layout as the host (/lib -> usr/lib, ...), so a library copied "at its
# host path" is found by the loader's default search path exactly as on the host.
for top in bin sbin lib lib64; do
  if [[ -L /$top ]]; then
    link=$(readlink "/$top")
    ln -s "$link" "$root/$top"
    [[ $link == /* ]] && link=${link#/}
    mkdir -p "$root/$link"
  else
    mkdir -p "$root/$top"
  fi
done
mkdir -p "$root/lib/modules"
multiarch=/usr/lib/x86_64-linux-gnu # the VM is x86_64 whatever else changes
mkdir -p "$root$multiarch"

# busybox, with a symlink per applet, all in /usr/bin (one process instead of 270 `ln`s;
# /usr/sbin stays empty so no applet can shadow a --binary of the same name).
# The links point at the running busybox's real path (/proc/self/exe), so it is run from the
# host and copied to that same path in the VM.
busybox=$(readlink -f /bin/busybox)
mkdir -p "$root$(dirname "$busybox")"
cp "$busybox" "$root$busybox"
/bin/busybox --install -s "$root/usr/bin" || vm_die "busybox --install failed"

cp "$cache/modules/configfs.ko" "$cache/modules/gpio-sim.ko" "$root/lib/modules/"
cp "$here/sim.sh" "$root/lib/sim.sh"

# Enough of /etc for glibc: name lookups of localhost, root and nobody (NSS files is built
# into glibc 2.34+, so no libnss_* is needed). Daemons started as root, like mosquitto,
# drop privileges to nobody and refuse to run when it does not exist.
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf '127.0.0.1\tlocalhost ganglion-vm\n::1\tlocalhost ip6-localhost\n' >"$root/etc/hosts"
printf 'passwd: files\ngroup: files\nhosts: files\n' >"$root/etc/nsswitch.conf"
printf 'ganglion-vm\n' >"$root/etc/hostname"

# --lib-dir first: these win over the host's libraries of the same name.
lib_path=""
for d in "${lib_dirs[@]}"; do
  d=$(cd "$d" && pwd)
  lib_path=${lib_path:+$lib_path:}$d
  found=0
  for lib in "$d"/*.so*; do
    [[ -e $lib || -L $lib ]] || continue
    cp -P "$lib" "$root$multiarch/"
    found=1
  done
  ((found)) || vm_log "warning: --lib-dir $d has no *.so* files"
done

# Each binary with the libraries ldd lists (the loader included), at their host paths.
for b in "${binaries[@]}"; do
  name=$(basename "$b")
  [[ ! -e $root/usr/bin/$name || -L $root/usr/bin/$name ]] ||
    bad_usage "two --binary files are named $name"
  rm -f "$root/usr/bin/$name" # may be a busybox applet link
  cp -L "$b" "$root/usr/bin/$name"
  chmod 755 "$root/usr/bin/$name"
  if ! ldd_out=$(LD_LIBRARY_PATH=$lib_path ldd "$b" 2>&1); then
    [[ $ldd_out == *"not a dynamic executable"* ]] && continue # static: nothing to copy
    vm_die "ldd $b failed: $ldd_out"
  fi
  if grep -q 'not found' <<<"$ldd_out"; then
    vm_die "$b needs libraries ldd cannot find (add a --lib-dir?):"$'\n'"$(grep 'not found' <<<"$ldd_out")"
  fi
  while read -r lib; do
    [[ -e $root$multiarch/$(basename "$lib") ]] && continue # overridden by --lib-dir
    [[ -e $root$lib ]] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done < <(sed -n -e 's/^.* => \(\/[^ ]*\) (0x[0-9a-f]*)$/\1/p' -e 's/^[[:space:]]*\(\/[^ ]*\) (0x[0-9a-f]*)$/\1/p' <<<"$ldd_out")
done

for f in "${files[@]}"; do
  src=${f%%:*} dest=${f#*:}
  mkdir -p "$root$(dirname "$dest")"
  cp -RL "$src" "$root$dest"
done

script_name=$(basename "$script")
cp "$script" "$root/test/$script_name"

# --- /init. The markers carry a random token, so no output of the script can fake them. ---
token=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
start_marker="GANGLION-VM-START-$token"
exit_marker="GANGLION-VM-EXIT-$token"
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; } # single-quote for sh
script_cmd="/bin/sh $(sq "/test/$script_name")"
for a in "$@"; do script_cmd+=" $(sq "$a")"; done

cat >"$root/init" <<INIT
#!/bin/sh
# Generated by run.sh: sets up the VM, runs the test script, reports its status, powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root GANGLION_VM=1
fail() { echo "$exit_marker:init:\$*"; poweroff -f; }
mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount devtmpfs on /dev"
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp || fail "mount /tmp"
mount -t tmpfs tmpfs /run
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
insmod /lib/modules/configfs.ko || fail "insmod configfs.ko"
insmod /lib/modules/gpio-sim.ko || fail "insmod gpio-sim.ko"
mount -t configfs configfs /sys/kernel/config || fail "mount configfs"
ip link set lo up || fail "ip link set lo up"
hostname ganglion-vm
cd /tmp
echo "$start_marker"
$script_cmd </dev/null
echo "$exit_marker:\$?"
poweroff -f
INIT
chmod 755 "$root/init"

# cpio newc, owned by root whoever builds it; gzip -1: the kernel unpacks it faster than
# QEMU would load a bigger uncompressed image, and it is built fresh for every run.
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio -o -0 -H newc -R 0:0 --quiet) | gzip -1 >"$tmp/initrd.gz"

# --- Boot. -----------------------------------------------------------------------------------
# TCG: the host's /dev/kvm (if any) cannot be relied on. -serial stdio with the monitor off
# (-nographic would put the monitor on stdio). panic=-1 + -no-reboot: a panic ends QEMU.
append="console=ttyS0 panic=-1"
if ((verbose)); then append+=" loglevel=7"; else append+=" quiet loglevel=3"; fi
t_boot=$EPOCHREALTIME
mkfifo "$tmp/console"
timeout --kill-after=5 "$timeout" qemu-system-x86_64 \
  -accel tcg,thread=multi -m "$memory" -smp "$cpus" -nodefaults -no-user-config -display none \
  -no-reboot -serial stdio -monitor none \
  -kernel "$cache/vmlinux" -initrd "$tmp/initrd.gz" -append "$append" \
  </dev/null >"$tmp/console" 2>"$tmp/qemu.err" &
qemu_pid=$!

# Stream the console: drop what comes before the start marker (boot) and from the exit
# marker on (power-off), unless --verbose; keep a raw copy to diagnose failures.
awk -v start="$start_marker" -v stop="$exit_marker:" -v verbose="$verbose" -v raw="$tmp/console.log" '
  { sub(/\r$/, ""); print > raw }
  state == 0 && index($0, start) { state = 1; next }
  state == 1 && (i = index($0, stop)) {
    if (i > 1) print substr($0, 1, i - 1)   # output without a final newline
    state = 2; fflush(); next
  }
  state == 1 || verbose { print; fflush() }
' <"$tmp/console" &
filter_pid=$!
# `wait` (unlike a foreground command) returns as soon as a trapped signal arrives, so
# Ctrl-C or a TERM from the test runner stops the VM at once instead of at the timeout.
wait "$filter_pid" || true
filter_pid=""

qemu_status=0
wait "$qemu_pid" || qemu_status=$?
qemu_pid=""
if [[ ${GANGLION_VM_TIMING:-} == 1 ]]; then
  t_end=$EPOCHREALTIME
  ms() { echo $(((${2/[.,]/} - ${1/[.,]/}) / 1000)); } # 6 decimals, locale separator
  vm_log "timing: initramfs $(ms "$t_start" "$t_boot") ms ($(du -k "$tmp/initrd.gz" | cut -f1) KB), VM $(ms "$t_boot" "$t_end") ms"
fi

result=$(grep -o "$exit_marker:.*" "$tmp/console.log" | tail -n1 || true)
result=${result#"$exit_marker:"}
if [[ $result =~ ^[0-9]+$ ]]; then
  exit "$result"
fi

# No status: say why, with the end of the console when it helps.
tail_lines() { tail -n "${1:-20}" "$tmp/console.log" | sed 's/^/  console: /' >&2; }
if [[ $result == init:* ]]; then
  tail_lines
  vm_die "the VM's /init failed: ${result#init:}"
elif ((qemu_status == 124 || qemu_status == 137)); then
  vm_die "timed out after $timeout s (the script did not finish; raise --timeout?)"
elif grep -q 'Kernel panic' "$tmp/console.log"; then
  tail_lines 40
  vm_die "the kernel panicked"
elif ((qemu_status != 0)); then
  sed 's/^/  qemu: /' "$tmp/qemu.err" >&2
  vm_die "qemu-system-x86_64 failed (status $qemu_status)"
else
  tail_lines
  vm_die "the VM stopped without reporting the script's exit status (killed, or the script powered it off?)"
fi
