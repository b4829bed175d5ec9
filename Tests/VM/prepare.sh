#!/usr/bin/env bash
# prepare.sh [CACHE_DIR]
#
# Prepares what run.sh needs to boot a QEMU VM with the kernel's gpio-sim driver:
#   CACHE_DIR/vmlinux               the uncompressed Debian kernel (boots in ~4 s under TCG
#                                   instead of ~8.6 s for vmlinuz: no self-decompression)
#   CACHE_DIR/modules/configfs.ko   from the same kernel image (CONFIGFS_FS=m)
#   CACHE_DIR/modules/gpio-sim.ko   built out of tree: no Debian kernel enables GPIO_SIM
#   CACHE_DIR/debs/*.deb            the downloaded packages: a re-prepare fetches only the
#                                   apt lists (to re-resolve the ABI), not the 214 MB again
#   CACHE_DIR/ready                 the stamp: when present, prepare.sh returns at once
# CACHE_DIR defaults to $GANGLION_VM_CACHE, else <repo>/.build/vm.
#
# Why out of tree: Debian's kernels (bookworm 6.1, backports and trixie 6.12) leave
# CONFIG_GPIO_SIM and CONFIG_IRQ_SIM unset, but bookworm's kernel has GPIOLIB, GPIO_CDEV
# (v1 and v2 uAPI) and accepts unsigned modules. gpio-sim.c plus irq_sim.c compile against
# linux-headers-<abi> as one module; the only snag is that irq_sim.c calls irq_to_desc(),
# which is not exported to modules, and generic_handle_irq() does the same thing.
#
# To re-resolve the kernel (e.g. after a Debian point release), delete CACHE_DIR/ready.
# Exit status: 0 prepared; 1 any failure (with a message naming what failed).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"

cache=${1:-${GANGLION_VM_CACHE:-$repo/.build/vm}}
stamp=$cache/ready

is_ready() {
  [[ -f $stamp && -s $cache/vmlinux && -s $cache/modules/configfs.ko && -s $cache/modules/gpio-sim.ko ]]
}

# Fast path, without any lock or tool: the usual case once prepared.
is_ready && exit 0

# Everything run.sh needs too (busybox, qemu, cpio): a prepared cache is a usable one.
vm_require \
  qemu-system-x86_64:qemu-system-x86 /bin/busybox:busybox-static cpio:cpio gzip:gzip python3:python3 make:make \
  gcc:gcc gcc-12:gcc-12 strip:binutils apt-get:apt apt-cache:apt dpkg-deb:dpkg \
  flock:util-linux tar:tar xz:xz-utils
vm_require_static_busybox
python3 -c 'import lzma' 2>/dev/null || vm_die "python3 has no lzma module (needed to unpack vmlinuz)"

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
stamp=$cache/ready
# Tests run in parallel and each may call prepare.sh: one prepares, the others wait.
exec 9>"$cache/.lock"
flock 9
is_ready && exit 0

started=$SECONDS
work=$cache/work
rm -rf "$work"
mkdir -p "$work"
kernel_pid=""
# On failure, stop the background extraction before removing its folder.
trap 'if [[ -n $kernel_pid ]]; then kill "$kernel_pid" 2>/dev/null || true; wait; fi; rm -rf "$work"' EXIT

# --- 1. Which kernel: the ABI that linux-image-amd64 points at today. -------------------
# A private apt state with the system's Debian mirror for the release and its updates
# (security is where new kernels land first; old ABIs vanish at point releases).
codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
apt_private_init "$cache/apt" "$codename" "$codename-updates" "$codename-security"
vm_log "updating the private apt lists"
apt_private_update
abi=$(apt-cache "${APT_PRIVATE[@]}" depends linux-image-amd64 |
  sed -n 's/^ *|\{0,1\}Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p' | head -n1)
[[ -n $abi ]] || vm_die "cannot resolve the kernel ABI from 'apt-cache depends linux-image-amd64'"
headers_deps=$(apt-cache "${APT_PRIVATE[@]}" depends "linux-headers-$abi")
common=$(grep -o 'linux-headers-[^ ]*-common$' <<<"$headers_deps" | head -n1) || true
kbuild=$(grep -o 'linux-kbuild-[0-9.]*$' <<<"$headers_deps" | head -n1) || true
[[ -n $common && -n $kbuild ]] || vm_die "cannot resolve the -common headers and kbuild packages of linux-headers-$abi"
source_pkg=linux-source-${kbuild#linux-kbuild-}
vm_log "kernel ABI $abi ($common, $kbuild, $source_pkg)"

# --- 2. Download (cached by file name: a re-prepare with the same ABI is offline). -------
mapfile -t debs < <(apt_private_download "$cache/debs" \
  "linux-image-$abi" "linux-headers-$abi" "$common" "$kbuild" "$source_pkg")
((${#debs[@]} == 5)) || vm_die "download failed"
image_deb=${debs[0]} source_deb=${debs[4]}
# Tidy: drop the .debs of older kernels.
for f in "$cache"/debs/*.deb; do
  [[ " ${debs[*]} " == *" $f "* ]] || { vm_log "removing old $(basename "$f")"; rm -f "$f"; }
done

# --- 3. Headers: unpack, and point the arch Makefile at the -common tree we unpacked. ----
root=$work/root
for deb in "${debs[@]:1:3}"; do dpkg-deb -x "$deb" "$root"; done
hdr=$root/usr/src/linux-headers-$abi
[[ -f $hdr/Makefile ]] || vm_die "linux-headers-$abi has no Makefile"
# Its Makefile is one line: `include /usr/src/linux-headers-<abi>-common/Makefile`.
sed -i "s|/usr/src/|$root/usr/src/|g" "$hdr/Makefile"
grep -qF "$root/usr/src/" "$hdr/Makefile" || vm_die "unexpected $hdr/Makefile: $(cat "$hdr/Makefile")"

# The build runs kbuild's own tools (objtool, modpost); as the package is unpacked, not
# installed, its library dependencies are not pulled in: name the package that is missing.
missing_libs=$(ldd "$root/usr/lib/$kbuild/tools/objtool/objtool" "$root/usr/lib/$kbuild/scripts/mod/modpost" 2>/dev/null |
  awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')
if [[ -n $missing_libs ]]; then
  vm_die "the kernel build tools need libraries that are not installed: $missing_libs(Debian packages: libelf1 zlib1g)"
fi

# --- 4. Kernel and configfs.ko from the image, without unpacking its 400 MB of modules. --
# Runs in the background, on the second core, while the module is extracted and built.
extract_kernel() {
  local img=$work/image out=$work/out configfs
  mkdir -p "$img" "$out"
  vm_log "extracting vmlinuz and configfs.ko from $(basename "$image_deb")"
  dpkg-deb --fsys-tarfile "$image_deb" |
    tar -x -C "$img" --wildcards "./boot/vmlinuz-$abi" './lib/modules/*/kernel/fs/configfs/configfs.ko*' ||
    vm_die "cannot extract the kernel from $image_deb"
  configfs=$(find "$img/lib/modules" -name 'configfs.ko*' | head -n1)
  [[ -n $configfs ]] || vm_die "configfs.ko is not in $image_deb"
  case $configfs in
    *.ko) cp "$configfs" "$out/configfs.ko" ;;
    *.ko.xz) xz -dc "$configfs" >"$out/configfs.ko" ;;
    *) vm_die "unsupported module compression: $configfs" ;;
  esac

  # vmlinuz is a bzImage: the real-mode setup, a decompressor, and the XZ-compressed ELF
  # vmlinux as payload. The boot header says where the payload is. QEMU boots that ELF
  # directly through its PVH entry note (CONFIG_PVH=y), skipping the slow decompression.
  python3 - "$img/boot/vmlinuz-$abi" "$out/vmlinux" <<'PY' || vm_die "cannot extract vmlinux from vmlinuz-$abi"
import lzma, struct, sys
src, dst = sys.argv[1:3]
data = open(src, "rb").read()
if data[0x202:0x206] != b"HdrS":
    sys.exit("not a bzImage (no HdrS boot header)")
setup_sects = data[0x1F1] or 4
payload_offset, payload_length = struct.unpack_from("<II", data, 0x248)
start = (setup_sects + 1) * 512 + payload_offset
payload = data[start:start + payload_length]
if not payload.startswith(b"\xfd7zXZ\x00"):
    sys.exit("the bzImage payload is not XZ (starts with %r)" % payload[:6])
# The payload ends with 4 size bytes after the XZ stream: the decompressor stops before.
vmlinux = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
if not vmlinux.startswith(b"\x7fELF"):
    sys.exit("the decompressed payload is not an ELF file")
# QEMU boots an ELF kernel only through its PVH entry: a "Xen" note of type 18
# (XEN_ELFNOTE_PHYS32_ENTRY) in a PT_NOTE segment.
phoff, = struct.unpack_from("<Q", vmlinux, 0x20)
phentsize, phnum = struct.unpack_from("<HH", vmlinux, 0x36)
pvh = False
for i in range(phnum):
    p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", vmlinux, phoff + i * phentsize)
    pos, end = p_offset, p_offset + p_filesz
    while p_type == 4 and pos + 12 <= end:           # PT_NOTE: walk its notes
        namesz, descsz, ntype = struct.unpack_from("<III", vmlinux, pos)
        name = vmlinux[pos + 12:pos + 12 + namesz].rstrip(b"\0")
        pvh = pvh or (name == b"Xen" and ntype == 18)
        pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
if not pvh:
    sys.exit("the kernel has no PVH entry note: QEMU cannot boot it uncompressed")
open(dst, "wb").write(vmlinux)
PY
}

extract_kernel >"$work/kernel.log" 2>&1 &
kernel_pid=$!

# --- 5. The three source files, streamed out of the 140 MB linux-source tarball. ---------
# Only these members are written: the 1.3 GB tree is never unpacked.
src_tar=./usr/src/$source_pkg.tar.xz
top=$source_pkg
vm_log "extracting gpio-sim sources from $(basename "$source_deb") (about 15 s)"
dpkg-deb --fsys-tarfile "$source_deb" | tar -xO "$src_tar" |
  tar -xJ -C "$work" "$top/drivers/gpio/gpio-sim.c" "$top/drivers/gpio/gpiolib.h" "$top/kernel/irq/irq_sim.c" ||
  vm_die "cannot extract the gpio-sim sources from $source_deb"

# --- 6. Build gpio-sim.ko: gpio-sim.c and irq_sim.c linked into one module. -------------
mod=$work/mod
mkdir -p "$mod"
# gpio-sim.c is renamed: the module object gpio-sim.o must not collide with its source.
cp "$work/$top/drivers/gpio/gpio-sim.c" "$mod/gpio-sim-drv.c"
cp "$work/$top/drivers/gpio/gpiolib.h" "$mod/gpiolib.h"
sed 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' \
  "$work/$top/kernel/irq/irq_sim.c" >"$mod/irq-sim.c"
if grep -q 'irq_to_desc' "$mod/irq-sim.c"; then
  vm_die "irq_sim.c changed upstream: the irq_to_desc edit did not apply; see $mod/irq-sim.c"
fi
printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-drv.o irq-sim.o\n' >"$mod/Kbuild"
vm_log "building gpio-sim.ko against linux-headers-$abi"
if ! make -s -C "$hdr" M="$mod" modules >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  vm_die "building gpio-sim.ko failed"
fi
# modpost reports symbols the kernel does not export as warnings: they would make the
# module fail to load in the VM, so fail here with the reason instead.
if grep -E 'undefined!' "$work/build.log" >&2; then
  vm_die "gpio-sim.ko uses symbols this kernel does not export"
fi
# Debug info is 90% of the file and would only slow the initramfs.
strip --strip-debug -o "$mod/gpio-sim.stripped.ko" "$mod/gpio-sim.ko"

if ! wait "$kernel_pid"; then
  kernel_pid=""
  cat "$work/kernel.log" >&2
  vm_die "extracting the kernel failed"
fi
kernel_pid=""

# --- 7. Publish, then tidy: only the debs, vmlinux, the modules and the stamp remain. ----
rm -rf "$cache/modules" "$cache/vmlinux"
mkdir -p "$cache/modules"
mv "$mod/gpio-sim.stripped.ko" "$cache/modules/gpio-sim.ko"
mv "$work/out/configfs.ko" "$cache/modules/configfs.ko"
mv "$work/out/vmlinux" "$cache/vmlinux"
printf 'abi=%s\nimage=%s\nprepared=%s\n' "$abi" "$(basename "$image_deb")" "$(date -u +%FT%TZ)" >"$stamp"
# The unpacked headers and the private apt lists (19 MB) are rebuilt by a re-prepare.
rm -rf "$work" "$cache/apt"
vm_log "prepared $cache in $((SECONDS - started)) s ($(du -sh "$cache" | cut -f1))"
