#!/usr/bin/env bash
# gpio-tests.sh [v1] [v2] [native-v2]: Ganglion against real GPIO character devices (the kernel's
# gpio-sim in a QEMU VM, see README.md), once built with libgpiod 1.x and once with 2.x.
#
#  v1: the `ganglion` of the regular build (`swift build`: this machine's libgpiod-dev 1.6).
#  v2: `ganglion` built again in .build-v2 against libgpiod 2.x from bookworm-backports,
#      unpacked by libgpiod-v2.sh (PKG_CONFIG_PATH points the build at it: Package.swift picks
#      the v2 funnel file by itself), and run in the VM with that library.
#
#  native-v2: on a machine whose libgpiod-dev is 2.x (Debian 13), the regular build; without
#      arguments that is the only run there, as no 1.x library is at hand.
#
# Each runs gpio-scenarios.sh in one VM boot. Without arguments both run. Exit status 0 only
# when every scenario of every run passed; a missing tool or asset is a failure that says what
# is missing, never a silent pass.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"

versions=("$@")
swift=${SWIFT:-swift}
cache=${GANGLION_VM_CACHE:-$repo/.build/vm}
# This machine's libgpiod-dev decides what the regular build uses (Package.swift): with 1.x
# (Debian 12) both versions are tested; with 2.x (Debian 13, Raspberry Pi OS trixie) the
# regular build is the 2.x one and no 1.x library is at hand.
host_libgpiod=$(pkg-config --modversion libgpiod 2>/dev/null) || vm_die "pkg-config finds no libgpiod (apt-get install libgpiod-dev)"
if ((${#versions[@]} == 0)); then
  if [[ $host_libgpiod == 1.* ]]; then
    versions=(v1 v2)
  else
    echo "gpio-tests: this machine's libgpiod is $host_libgpiod: testing the regular build (2.x); the 1.x run needs libgpiod 1.6 (Debian 12)"
    versions=(native-v2)
  fi
fi

"$here/prepare.sh" "$cache"
vm_require gcc:gcc
mkdir -p "$cache/tools"
for tool in edgegen gpiolat; do
  if [[ ! -x $cache/tools/$tool || $here/tools/$tool.c -nt $cache/tools/$tool ]]; then
    gcc -O2 -static -o "$cache/tools/$tool" "$here/tools/$tool.c"
  fi
done

failed=()
for version in "${versions[@]}"; do
  args=(--binary "$cache/tools/edgegen" --timeout 300 --cpus 2)
  case $version in
    v1 | native-v2)
      binary=$repo/.build/debug/ganglion
      [[ -x $binary ]] || vm_die "$binary is missing: build first (swift build)"
      ;;
    v2)
      v2=$repo/.build/libgpiod-v2
      "$here/libgpiod-v2.sh" "$v2"
      echo "gpio-tests: building ganglion against libgpiod 2.x (.build-v2)"
      PKG_CONFIG_PATH=$v2/root/usr/lib/x86_64-linux-gnu/pkgconfig \
        "$swift" build --scratch-path "$repo/.build-v2" --package-path "$repo" --product ganglion -q
      binary=$repo/.build-v2/debug/ganglion
      args+=(--lib-dir "$v2/root/usr/lib/x86_64-linux-gnu")
      ;;
    *) vm_die "usage: gpio-tests.sh [v1] [v2] [native-v2]" ;;
  esac
  # The binary must be linked against the library it claims to test.
  want=$([[ $version == v1 ]] && echo libgpiod.so.2 || echo libgpiod.so.3)
  api=${version#native-}
  libraries=$(LD_LIBRARY_PATH=${v2:+$v2/root/usr/lib/x86_64-linux-gnu} ldd "$binary")
  [[ $libraries == *"$want"* ]] || vm_die "$binary is not linked against $want"
  echo "=== gpio-sim, libgpiod $version"
  status=0
  "$here/run.sh" --binary "$binary" "${args[@]}" -- "$here/gpio-scenarios.sh" "$api" || status=$?
  ((status == 0)) || failed+=("$version")
done
if ((${#failed[@]})); then
  echo "gpio-tests: FAILED for libgpiod ${failed[*]}"
  exit 1
fi
echo "gpio-tests: all scenarios passed for libgpiod ${versions[*]}"
