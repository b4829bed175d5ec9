#!/usr/bin/env bash
# smoke.sh: proves the gpio-sim VM works end to end with real tools.
#
#  1. libgpiod v1 (bookworm's `gpiod` 1.6 tools, from the host): smoke-vm.sh v1 in the VM
#     checks gpiodetect (label, line count), gpioinfo (line names), gpioget (pull up/down),
#     a held gpioset output read back with sim_value, gpiomon -n 3 seeing 3 simulated edges,
#     a burst of edges, and removing the chip. This run also passes a --lib-dir holding a
#     marked copy of the host's libgpiod.so.2, and checks that the VM got the marked copy
#     (the --lib-dir override of a library the host also has).
#  2. libgpiod v2 (fetched by libgpiod-v2.sh from backports): the same checks with the v2
#     tools, which can only run with the private libgpiod.so.3 given by --lib-dir.
#     Skipped, with a note, only when the backports archive has no v2 tools package.
#
# Exit status: 0 when every check of every run passed; 1 otherwise (run.sh's own 125 for
# a VM that could not report counts as a failure too).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"

tools=(gpiodetect gpioinfo gpioget gpioset gpiomon)
vm_require gpiodetect:gpiod gpioinfo:gpiod gpioget:gpiod gpioset:gpiod gpiomon:gpiod ldd:libc-bin

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ganglion-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

failed=()
run_vm() { # NAME RUN.SH-ARGS...
  local name=$1 start=$SECONDS status=0
  shift
  echo "=== $name"
  "$here/run.sh" "$@" || status=$?
  echo "=== $name: exit status $status, $((SECONDS - start)) s"
  ((status == 0)) || failed+=("$name")
}

# --- v1, plus the override check. ------------------------------------------------------
v1_args=()
for t in "${tools[@]}"; do v1_args+=(--binary "$(command -v "$t")"); done
v1_lib=$(ldd "$(command -v gpiodetect)" | sed -n 's/^.*libgpiod\.so\.2 => \(\/[^ ]*\) .*$/\1/p')
[[ -n $v1_lib ]] || vm_die "gpiodetect is not linked with libgpiod.so.2?"
mkdir -p "$tmp/override"
# Bytes after the end of an ELF file are never mapped: the copy still loads, and carries
# a mark the VM can look for.
cp -L "$v1_lib" "$tmp/override/libgpiod.so.2"
printf 'GANGLION-LIBDIR-OVERRIDE\n' >>"$tmp/override/libgpiod.so.2"
run_vm "libgpiod v1 tools" "${v1_args[@]}" --lib-dir "$tmp/override" -- "$here/smoke-vm.sh" v1 GANGLION-LIBDIR-OVERRIDE

# --- v2. -----------------------------------------------------------------------------------
v2=$repo/.build/libgpiod-v2
if ! "$here/libgpiod-v2.sh" "$v2"; then
  failed+=("libgpiod-v2.sh")
elif [[ ! -x $v2/root/usr/bin/gpiodetect ]]; then
  echo "=== libgpiod v2 tools: SKIPPED (backports has no v2 gpiod package)"
else
  v2_args=(--lib-dir "$v2/root/usr/lib/x86_64-linux-gnu")
  for t in "${tools[@]}"; do v2_args+=(--binary "$v2/root/usr/bin/$t"); done
  run_vm "libgpiod v2 tools" "${v2_args[@]}" -- "$here/smoke-vm.sh" v2
fi

if ((${#failed[@]})); then
  printf 'smoke: FAILED: %s\n' "${failed[*]}"
  exit 1
fi
echo "smoke: all checks passed"
