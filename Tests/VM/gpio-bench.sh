#!/usr/bin/env bash
# gpio-bench.sh [v1] [v2]: Ganglion's GPIO figures in the gpio-sim VM (gpio-bench-vm.sh), with
# release builds: edge -> rule -> output latency p50/p99, and the highest edge rate counted
# without a loss, for libgpiod 1.x (the regular release build) and 2.x (.build-v2, against
# the backports library, as gpio-tests.sh builds it). The VM runs under software emulation
# (TCG) on the build machine: the figures compare versions and changes, not boards.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"

versions=("$@")
((${#versions[@]})) || versions=(v1 v2)
swift=${SWIFT:-swift}
cache=${GANGLION_VM_CACHE:-$repo/.build/vm}
"$here/prepare.sh" "$cache"
vm_require gcc:gcc
mkdir -p "$cache/tools"
for tool in edgegen gpiolat; do
  gcc -O2 -static -o "$cache/tools/$tool" "$here/tools/$tool.c"
done

for version in "${versions[@]}"; do
  args=(--binary "$cache/tools/edgegen" --binary "$cache/tools/gpiolat" --timeout 600 --cpus 2)
  case $version in
    v1)
      "$swift" build -c release --package-path "$repo" --product ganglion -q
      binary=$repo/.build/release/ganglion
      ;;
    v2)
      v2=$repo/.build/libgpiod-v2
      "$here/libgpiod-v2.sh" "$v2"
      PKG_CONFIG_PATH=$v2/root/usr/lib/x86_64-linux-gnu/pkgconfig \
        "$swift" build -c release --scratch-path "$repo/.build-v2" --package-path "$repo" --product ganglion -q
      binary=$repo/.build-v2/release/ganglion
      args+=(--lib-dir "$v2/root/usr/lib/x86_64-linux-gnu")
      ;;
    *) vm_die "usage: gpio-bench.sh [v1] [v2]" ;;
  esac
  "$here/run.sh" --binary "$binary" "${args[@]}" -- "$here/gpio-bench-vm.sh" "$version" | grep '^bench '
done
