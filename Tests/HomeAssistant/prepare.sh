#!/usr/bin/env bash
# Prepares Home Assistant 2024.3.3 as an MQTT-discovery test peer.
#
#   Tests/HomeAssistant/prepare.sh [DIR]      (default: <repo>/.build/homeassistant)
#
# Creates DIR/venv with exactly the packages pinned in requirements.lock (beside this
# script): homeassistant==2024.3.3 and everything it imports or would pip-install at its
# first start with ha_peer.py's minimal configuration, so Home Assistant never installs
# anything during a test. Writes DIR/prepared.stamp (Python version + the lock) last;
# when the stamp matches, it exits at once. A changed lock or Python rebuilds the venv.
#
# Environment: PYTHON (default python3; Home Assistant 2024.3.3 needs 3.11 or 3.12),
# PIP_CACHE_DIR (pip's download cache; default ~/.cache/pip).
# Exit codes: 0 ready, 1 failed (one line on stderr says why).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dir="${1:-$repo/.build/homeassistant}"
lock="$here/requirements.lock"
py="${PYTHON:-python3}"

die() { echo "prepare.sh: $*" >&2; exit 1; }

command -v "$py" >/dev/null 2>&1 ||
  die "$py is missing: install Python 3.11 (Debian 12: apt-get install python3 python3-venv)"
pyver="$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')" ||
  die "$py does not run"
case "$pyver" in
  3.11.* | 3.12.*) ;;
  *) die "$py is Python $pyver; Home Assistant 2024.3.3 needs Python 3.11 (or 3.12)" ;;
esac
"$py" -c 'import venv, ensurepip' >/dev/null 2>&1 ||
  die "$py has no venv/ensurepip (so no pip for a venv): apt-get install python3-venv"
[ -f "$lock" ] || die "$lock is missing"

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
stamp="$dir/prepared.stamp"
expected="$(mktemp)"
trap 'rm -f "$expected"' EXIT
{ echo "prepare-format 1"; echo "python $pyver"; cat "$lock"; } >"$expected"

# One prepare at a time per DIR (parallel test runs may call this together).
exec 9>"$dir/.prepare.lock"
flock 9

if [ -x "$dir/venv/bin/hass" ] && cmp -s "$expected" "$stamp"; then
  echo "prepare.sh: $dir is ready (Home Assistant 2024.3.3, Python $pyver)"
  exit 0
fi

start=$(date +%s)
rm -f "$stamp"
rm -rf "$dir/venv"
echo "prepare.sh: creating $dir/venv (Python $pyver)" >&2
"$py" -m venv "$dir/venv" >/dev/null || die "python3 -m venv failed (apt-get install python3-venv?)"
vpy="$dir/venv/bin/python"
"$vpy" -m pip --version >/dev/null 2>&1 || die "the venv has no pip (apt-get install python3-venv)"

# Is the package index reachable? One look-up of a package we install, failing fast.
if ! out="$("$vpy" -m pip index versions paho-mqtt --timeout 20 --retries 1 \
  --disable-pip-version-check 2>&1)" || ! grep -q "1.6.1" <<<"$out"; then
  rm -rf "$dir/venv"
  die "cannot reach PyPI through pip ($(tail -n 1 <<<"$out"))"
fi

echo "prepare.sh: installing $(grep -c '==' "$lock") pinned packages (about 1-2 minutes)" >&2
log="$dir/pip-install.log"
if ! "$vpy" -m pip install --no-deps --disable-pip-version-check --progress-bar off \
  -r "$lock" >"$log" 2>&1; then
  tail -n 15 "$log" >&2
  rm -rf "$dir/venv"
  die "pip install failed (full log: $log)"
fi
"$vpy" -m pip check --disable-pip-version-check >>"$log" 2>&1 ||
  { tail -n 15 "$log" >&2; die "pip check found broken requirements (see $log)"; }
# What the peer imports at start; fails here rather than in the middle of a test.
"$vpy" -c 'import homeassistant, paho.mqtt.client, janus, sqlalchemy, fnv_hash_fast, numpy, \
turbojpeg, pyotp, pyqrcode, securetar, PIL, hass_nabucasa, hass_frontend, acme.client' \
  >>"$log" 2>&1 || { tail -n 5 "$log" >&2; die "the installed packages do not import (see $log)"; }
[ -x "$dir/venv/bin/hass" ] || die "no hass executable in $dir/venv/bin"

cp "$expected" "$stamp.tmp" && mv "$stamp.tmp" "$stamp"
echo "prepare.sh: $dir is ready in $(($(date +%s) - start)) s (Home Assistant 2024.3.3, Python $pyver)"
