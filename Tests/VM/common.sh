# shellcheck shell=bash
# Helpers shared by prepare.sh, run.sh, libgpiod-v2.sh and smoke.sh. Sourced, not run.
#
# - vm_die / vm_log: one message style, on stderr.
# - vm_require: checks host commands and names the Debian packages that provide the
#   missing ones in ONE message (the project's `make deps` installs packages; these
#   scripts never do).
# - apt_private_*: a private apt state (its own sources.list, lists and cache under a
#   folder we own). It uses the mirror the system is already configured with, read from
#   the system's own apt sources, so no host name is written into the project. It never
#   touches /etc/apt or /var/lib/apt, and it works without root.

vm_log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
vm_die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit "${VM_DIE_STATUS:-1}"; }

# vm_require CMD:PACKAGE ...   CMD is a command name or an absolute path.
vm_require() {
  local spec cmd pkg missing_cmds=() missing_pkgs=()
  for spec in "$@"; do
    cmd=${spec%%:*} pkg=${spec#*:}
    if [[ $cmd == /* ]]; then [[ -x $cmd ]] && continue
    else command -v "$cmd" >/dev/null 2>&1 && continue
    fi
    missing_cmds+=("$cmd")
    [[ " ${missing_pkgs[*]} " == *" $pkg "* ]] || missing_pkgs+=("$pkg")
  done
  if ((${#missing_cmds[@]})); then
    vm_die "missing host tools: ${missing_cmds[*]}; install the Debian packages: ${missing_pkgs[*]}"
  fi
}

# The busybox copied into the VM must be the static one (busybox-static): the dynamic
# busybox package installs the same /bin/busybox path but needs libraries in the VM.
vm_require_static_busybox() {
  vm_require /bin/busybox:busybox-static
  if ldd /bin/busybox >/dev/null 2>&1; then
    vm_die "/bin/busybox is dynamically linked; install the Debian package busybox-static"
  fi
}

# apt_private_init DIR SUITE...
# Writes DIR/sources.list with one `deb URI SUITE main` line per SUITE, taking URI (and
# signed-by) from the system's own apt sources (deb822 .sources and one-line .list files).
# A SUITE ending in -backports that the system does not list gets the URI of the system's
# entry for the release itself (that is where Debian serves backports).
# Sets the array APT_PRIVATE with the apt-get/apt-cache options that select the state.
apt_private_init() {
  local dir=$1; shift
  local SL SP codename
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/empty"
  APT_PRIVATE_DIR=$dir
  # Where this system keeps its sources (normally /etc/apt/sources.list{,.d/}).
  eval "$(apt-config shell SL Dir::Etc::SourceList/f SP Dir::Etc::SourceParts/d)"
  codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
  [[ -n $codename ]] || vm_die "cannot read VERSION_CODENAME from /etc/os-release"
  python3 - "$SL" "$SP" "$codename" "$@" >"$dir/sources.list.new" <<'PY' || vm_die "cannot find a Debian mirror for: $* in the system's apt sources ($SL, $SP)"
import glob, os, re, sys
source_list, source_parts, codename = sys.argv[1:4]
wanted = sys.argv[4:]
entries = []  # (uri, suite, signed_by)

def add(types, uris, suites, signed_by):
    if "deb" in types:
        for uri in uris:
            for suite in suites:
                entries.append((uri, suite, signed_by))

one_line = ([source_list] if os.path.isfile(source_list) else []) + sorted(glob.glob(os.path.join(source_parts, "*.list")))
for path in one_line:
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.split("#", 1)[0].strip()
        m = re.match(r"^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)", line)
        if not m:
            continue
        opts = dict(o.split("=", 1) for o in (m.group(2) or "").split() if "=" in o)
        add([m.group(1)], [m.group(3)], [m.group(4)], opts.get("signed-by", ""))

for path in sorted(glob.glob(os.path.join(source_parts, "*.sources"))):
    text = open(path, encoding="utf-8", errors="replace").read()
    for para in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in para.splitlines():
            if line.startswith("#"):
                continue
            if line[:1] in (" ", "\t") and key:      # continuation (e.g. an inline key)
                fields[key] += "\n" + line.strip()
                continue
            if ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        signed_by = fields.get("signed-by", "")
        if not signed_by.startswith("/"):           # an inline key cannot go on one line
            signed_by = ""
        add(fields.get("types", "").split(), fields.get("uris", "").split(),
            fields.get("suites", "").split(), signed_by)

for suite in wanted:
    hit = next((e for e in entries if e[1] == suite), None)
    if hit is None and suite.endswith("-backports"):
        base = next((e for e in entries if e[1] == codename), None)
        hit = base and (base[0], suite, base[2])
    if hit is None:
        sys.stderr.write("no apt source for suite %s\n" % suite)
        sys.exit(1)
    opts = " [signed-by=%s]" % hit[2] if hit[2] else ""
    print("deb%s %s %s main" % (opts, hit[0], suite))
PY
  mv "$dir/sources.list.new" "$dir/sources.list"
  APT_PRIVATE=(
    -o "Dir::Etc::SourceList=$dir/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$dir/lists"
    -o "Dir::Cache=$dir/cache"
    # Downloads go to folders we own: no need to switch to the _apt user (and no
    # "download is performed unsandboxed" warning when running as root).
    -o "APT::Sandbox::User=$(id -un)"
    -o "Acquire::Languages=none"
  )
}

# apt_private_update: refreshes the private lists; any failed index is an error
# (plain `apt-get update` only warns and leaves stale lists behind).
apt_private_update() {
  apt-get "${APT_PRIVATE[@]}" -qq --error-on=any update ||
    vm_die "apt-get update with the private state failed (network? the mirror in the system's apt sources?)"
}

# apt_private_download DESTDIR PACKAGE[=VERSION]...
# Downloads the candidate .deb of each PACKAGE into DESTDIR unless a file of the same name
# (name_version_arch.deb, as apt names it) is already there. Prints the .deb paths, one a
# line, in the order asked.
apt_private_download() {
  local dest=$1; shift
  local pkg line file
  mkdir -p "$dest"
  for pkg in "$@"; do
    # --print-uris gives 'URI' FILENAME SIZE HASH without downloading, but prints nothing
    # for a file already in the current folder: so ask from an empty one.
    line=$(cd "$APT_PRIVATE_DIR/empty" && apt-get "${APT_PRIVATE[@]}" -qq --print-uris download "$pkg") ||
      vm_die "apt cannot find $pkg"
    file=$(awk '{print $2; exit}' <<<"$line")
    [[ -n $file ]] || vm_die "apt gave no file name for $pkg"
    if [[ ! -s $dest/$file ]]; then
      vm_log "downloading $file"
      (cd "$dest" && apt-get "${APT_PRIVATE[@]}" -qq download "$pkg") || vm_die "apt-get download $pkg failed"
      [[ -s $dest/$file ]] || vm_die "apt-get download $pkg did not produce $file"
    fi
    printf '%s\n' "$dest/$file"
  done
}
