#!/usr/bin/env bash
# libgpiod-v2.sh [DEST]
#
# Fetches libgpiod v2 (libgpiod3 + libgpiod-dev, and the v2 `gpiod` tools when the archive
# has them) from <release>-backports into DEST (default <repo>/.build/libgpiod-v2), next to
# the system's libgpiod v1:
#   DEST/root/usr/include/gpiod.h
#   DEST/root/usr/lib/x86_64-linux-gnu/libgpiod.so.3 (and libgpiod.so, libgpiod.a)
#   DEST/root/usr/lib/x86_64-linux-gnu/pkgconfig/libgpiod.pc  (rewritten to point at DEST/root)
#   DEST/root/usr/bin/gpio{detect,info,get,set,mon,notify}  (v2 tools, when available)
#   DEST/debs/*.deb                                          (cache: not downloaded again)
#   DEST/ready                                               (stamp: then this returns at once)
# Use it with:
#   PKG_CONFIG_PATH=DEST/root/usr/lib/x86_64-linux-gnu/pkgconfig pkg-config --cflags --libs libgpiod
#   run.sh --lib-dir DEST/root/usr/lib/x86_64-linux-gnu ...   (the v2 library inside the VM)
#   LD_LIBRARY_PATH=DEST/root/usr/lib/x86_64-linux-gnu ...    (on the host)
#
# Why not apt-get install: libgpiod3 declares Breaks/Replaces libgpiod2, so v1 and v2
# cannot be installed side by side, and the project must keep building against v1 (the
# bookworm / Raspberry Pi OS bookworm library). A private apt state fetches the backports
# packages from the system's own Debian mirror without touching its sources or packages.
#
# To fetch again (e.g. a newer backport), delete DEST/ready.
# Exit status: 0 ready; 1 any failure, with a message saying what failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"

dest=${1:-$repo/.build/libgpiod-v2}
multiarch=x86_64-linux-gnu
libdir_rel=usr/lib/$multiarch

is_ready() {
  [[ -f $dest/ready && -f $dest/root/usr/include/gpiod.h && -e $dest/root/$libdir_rel/libgpiod.so.3 &&
    -f $dest/root/$libdir_rel/pkgconfig/libgpiod.pc ]]
}
is_ready && exit 0

vm_require apt-get:apt apt-cache:apt dpkg-deb:dpkg python3:python3 flock:util-linux
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
exec 9>"$dest/.lock"
flock 9
is_ready && exit 0

codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
suite=$codename-backports
apt_private_init "$dest/apt" "$suite"
vm_log "updating the private apt lists ($suite)"
apt_private_update

pkgs=("libgpiod3/$suite" "libgpiod-dev/$suite")
# The v2 command line tools are handy for smoke tests; not every release backports them.
if apt-get "${APT_PRIVATE[@]}" -qq --print-uris download "gpiod/$suite" >/dev/null 2>&1; then
  pkgs+=("gpiod/$suite")
else
  vm_log "note: $suite has no gpiod (v2 tools) package; fetching the library only"
fi
mapfile -t debs < <(apt_private_download "$dest/debs" "${pkgs[@]}")
((${#debs[@]} == ${#pkgs[@]})) || vm_die "downloading ${pkgs[*]} failed"
case $(basename "${debs[0]}") in
  libgpiod3_2.*) ;;
  *) vm_die "$suite has $(basename "${debs[0]}"), not libgpiod v2.x" ;;
esac
for f in "$dest"/debs/*.deb; do # tidy: drop superseded versions
  [[ " ${debs[*]} " == *" $f "* ]] || rm -f "$f"
done

rm -rf "$dest/root.new"
for deb in "${debs[@]}"; do
  dpkg-deb -x "$deb" "$dest/root.new" || vm_die "cannot unpack $deb"
done
pcdir=$dest/root.new/$libdir_rel/pkgconfig
[[ -f $pcdir/libgpiod.pc ]] || vm_die "libgpiod-dev has no $libdir_rel/pkgconfig/libgpiod.pc"
# Each .pc (libgpiod, libgpiodcxx) says prefix=/usr; every other path in it is derived from
# ${prefix}. Point them at the final DEST/root (root.new is renamed below).
for pc in "$pcdir"/*.pc; do
  sed -i "s|^prefix=/usr\$|prefix=$dest/root/usr|" "$pc"
  grep -qxF "prefix=$dest/root/usr" "$pc" || vm_die "unexpected $pc: $(cat "$pc")"
  if grep -E '^[a-z_]+=/usr' "$pc" >&2; then
    vm_die "$pc has absolute /usr paths besides prefix; rewrite them too"
  fi
done
rm -rf "$dest/root"
mv "$dest/root.new" "$dest/root"
rm -rf "$dest/apt"

if command -v pkg-config >/dev/null; then
  version=$(PKG_CONFIG_PATH=$dest/root/$libdir_rel/pkgconfig pkg-config --modversion libgpiod) ||
    vm_die "pkg-config cannot read $dest/root/$libdir_rel/pkgconfig/libgpiod.pc"
  [[ $version == 2.* ]] || vm_die "pkg-config reports libgpiod $version, not 2.x"
fi
printf 'debs=%s\nfetched=%s\n' "$(cd "$dest/debs" && echo *.deb)" "$(date -u +%FT%TZ)" >"$dest/ready"
vm_log "libgpiod v2 in $dest/root (PKG_CONFIG_PATH=$dest/root/$libdir_rel/pkgconfig)"
