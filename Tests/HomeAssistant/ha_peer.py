#!/usr/bin/env python3
"""Home Assistant 2024.3.3 as a test peer for Ganglion's MQTT discovery.

Standard library only: run it with the system python3 (3.9+) or with the
venv's python; it talks to Home Assistant over HTTP and WebSocket and never
imports homeassistant. The Home Assistant install itself comes from
prepare.sh (default <repo>/.build/homeassistant).

Commands (see --help of each):
  start       write a config dir, start hass in the background, wait until the
              API answers and the MQTT integration is loaded and connected,
              print {"url", "token", "pid", "log"} as one JSON line
  states      print the state machine (optionally one domain) as JSON
  devices     print the device registry with each device's entity ids as JSON
  wait-state  poll until an entity has a state (or is absent)
  call        call a service (e.g. switch.turn_on) for an entity
  stop        SIGTERM the hass process group, SIGKILL it after a deadline

Exit codes: 0 success, 1 the check or the operation failed (details on
stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import secrets
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
DEFAULT_HA_DIR = REPO_ROOT / ".build" / "homeassistant"
PORT_RANGE = (20000, 31999)
PEER_FILE = "ha_peer.json"  # what start remembers in the config dir
HA_LOG = "home-assistant.log"
CONSOLE_LOG = "hass.console.log"
TOKEN_LIFETIME = 10 * 365 * 24 * 3600  # seconds
USER_NAME = "ganglion-tests"
MQTT_ENTRY_TITLE = "ganglion-test-broker"


class PeerError(Exception):
    """A failure to report on stderr with exit code 1."""


def log(msg: str) -> None:
    print(f"ha_peer: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# HTTP and WebSocket clients (stdlib only)
# --------------------------------------------------------------------------


def http_json(url: str, token: str | None, method: str = "GET", body=None,
              timeout: float = 5.0):
    """Return (status, decoded JSON or text). Raises OSError when unreachable."""
    data = None
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


class WebSocket:
    """Minimal RFC 6455 client: text frames, no extensions, client masking."""

    def __init__(self, url: str, timeout: float = 10.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "ws"):
            raise PeerError(f"only plain http/ws URLs are supported, got {url}")
        host, port = parts.hostname, parts.port or 80
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /api/websocket HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise PeerError("websocket handshake: connection closed")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line = head.split(b"\r\n", 1)[0].decode()
        if " 101 " not in status_line + " ":
            raise PeerError(f"websocket handshake refused: {status_line}")
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        if accept not in head:
            raise PeerError("websocket handshake: bad Sec-WebSocket-Accept")
        self.next_id = 1

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise PeerError("websocket closed by Home Assistant")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send(self, obj: dict) -> None:
        self._send_frame(0x1, json.dumps(obj).encode())

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise PeerError("websocket closed by Home Assistant")
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode in (0x1, 0x2, 0x0):
                message += payload
                if b0 & 0x80:
                    return json.loads(message)

    def auth(self, token: str) -> None:
        first = self.recv()
        if first.get("type") != "auth_required":
            raise PeerError(f"websocket: unexpected greeting {first}")
        self.send({"type": "auth", "access_token": token})
        reply = self.recv()
        if reply.get("type") != "auth_ok":
            raise PeerError(f"websocket auth failed: {reply}")

    def command(self, msg_type: str, **fields):
        msg_id = self.next_id
        self.next_id += 1
        self.send({"id": msg_id, "type": msg_type, **fields})
        while True:
            reply = self.recv()
            if reply.get("id") == msg_id and reply.get("type") == "result":
                if not reply.get("success"):
                    raise PeerError(f"{msg_type} failed: {reply.get('error')}")
                return reply.get("result")

    def close(self) -> None:
        try:
            self._send_frame(0x8, b"")
        except OSError:
            pass
        self.sock.close()


# --------------------------------------------------------------------------
# start: config dir, storage, process, readiness
# --------------------------------------------------------------------------


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port() -> int:
    for _ in range(200):
        port = random.randint(*PORT_RANGE)
        if port_is_free(port):
            return port
    raise PeerError("no free port in 20000-31999")


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_jwt(issuer: str, key: str, lifetime: int) -> str:
    """The access token Home Assistant itself would issue for this refresh
    token: HS256 over {"iss": refresh token id, "iat", "exp"} with its jwt_key
    (homeassistant/auth/__init__.py async_create_access_token)."""
    now = int(time.time())
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"},
                               separators=(",", ":")).encode())
    payload = b64url(json.dumps({"iss": issuer, "iat": now, "exp": now + lifetime},
                                separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    sig = hmac.new(key.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(sig)}"


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def storage_doc(key: str, version: int, data, minor_version: int = 1) -> dict:
    return {"version": version, "minor_version": minor_version, "key": key,
            "data": data}


def write_configuration(config_dir: Path, http_port: int, mqtt_debug: bool) -> None:
    logs = {"homeassistant.components.mqtt": "debug"} if mqtt_debug else {}
    lines = [
        "# Written by Tests/HomeAssistant/ha_peer.py: minimal test peer.",
        "# Only what MQTT discovery, the REST/WebSocket API and the registries",
        "# need; no default_config. (Home Assistant still sets up its built-in",
        "# DEFAULT_INTEGRATIONS such as frontend, see bootstrap.py.)",
        "homeassistant:",
        "  name: ganglion-test-peer",
        "  unit_system: metric",
        "  time_zone: UTC",
        "  latitude: 0",
        "  longitude: 0",
        "  elevation: 0",
        "  currency: EUR",
        "  country: DE",
        "http:",
        "  server_host: 127.0.0.1",
        f"  server_port: {http_port}",
        "api:",
        "websocket_api:",
        "config:",
        "logger:",
        "  default: info",
    ]
    if logs:
        lines.append("  logs:")
        lines += [f"    {name}: {level}" for name, level in logs.items()]
    (config_dir / "configuration.yaml").write_text("\n".join(lines) + "\n")


def write_storage(config_dir: Path, broker_host: str, broker_port: int,
                  username: str | None, password: str | None) -> str:
    """Write onboarding, auth (user + long-lived token) and the MQTT config
    entry into <config_dir>/.storage. Returns the access token. Must run while
    Home Assistant is not running (it owns these files while it runs)."""
    storage = config_dir / ".storage"
    storage.mkdir(parents=True, exist_ok=True)
    peer = read_json(config_dir / PEER_FILE) or {}

    # Onboarding done: every step of homeassistant/components/onboarding/const.py.
    write_json(storage / "onboarding", storage_doc("onboarding", 4, {
        "done": ["user", "core_config", "analytics", "integration"]}))

    # Auth store (homeassistant/auth/auth_store.py, version 1): an owner in the
    # admin group and a long-lived refresh token whose jwt_key signs our JWT.
    # Merged into an existing store so a restarted peer keeps its token.
    auth_path = storage / "auth"
    auth = (read_json(auth_path) or {}).get("data") or {
        "users": [], "groups": [{"id": "system-admin", "name": "Administrators"},
                                {"id": "system-users", "name": "Users"},
                                {"id": "system-read-only", "name": "Read Only"}],
        "credentials": [], "refresh_tokens": []}
    user_id = peer.get("user_id") or uuid.uuid4().hex
    token_id = peer.get("refresh_token_id") or uuid.uuid4().hex
    jwt_key = peer.get("jwt_key") or secrets.token_hex(64)
    auth["users"] = [u for u in auth["users"] if u["id"] != user_id] + [{
        "id": user_id, "group_ids": ["system-admin"], "is_owner": True,
        "is_active": True, "name": USER_NAME, "system_generated": False,
        "local_only": False}]
    auth["refresh_tokens"] = [t for t in auth["refresh_tokens"]
                              if t["id"] != token_id] + [{
        "id": token_id, "user_id": user_id, "client_id": None,
        "client_name": "ganglion-tests", "client_icon": None,
        "token_type": "long_lived_access_token",
        "created_at": datetime.now(timezone.utc).isoformat(),
        "access_token_expiration": float(TOKEN_LIFETIME),
        "token": secrets.token_hex(64), "jwt_key": jwt_key,
        "last_used_at": None, "last_used_ip": None, "expire_at": None,
        "credential_id": None, "version": "2024.3.3"}]
    write_json(auth_path, storage_doc("auth", 1, auth))

    # The MQTT config entry (homeassistant/config_entries.py, storage version 1;
    # mqtt config flow VERSION 1). Discovery settings live in entry data here.
    entries_path = storage / "core.config_entries"
    entries = ((read_json(entries_path) or {}).get("data") or {}).get("entries", [])
    old = next((e for e in entries if e.get("domain") == "mqtt"), None)
    data = {"broker": broker_host, "port": broker_port, "discovery": True,
            "discovery_prefix": "homeassistant"}
    if username:
        data["username"] = username
    if password:
        data["password"] = password
    entry = {
        "entry_id": old["entry_id"] if old else uuid.uuid4().hex,
        "version": 1, "minor_version": 1, "domain": "mqtt",
        "title": MQTT_ENTRY_TITLE, "data": data, "options": {},
        "pref_disable_new_entities": False, "pref_disable_polling": False,
        "source": "user", "unique_id": None, "disabled_by": None}
    entries = [e for e in entries if e.get("domain") != "mqtt"] + [entry]
    write_json(entries_path, storage_doc("core.config_entries", 1,
                                         {"entries": entries}))

    token = make_jwt(token_id, jwt_key, TOKEN_LIFETIME)
    peer.update({"user_id": user_id, "refresh_token_id": token_id,
                 "jwt_key": jwt_key, "mqtt_entry_id": entry["entry_id"]})
    write_json(config_dir / PEER_FILE, peer)
    return token


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def kill_group(proc: subprocess.Popen, grace: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def wait_ready(proc: subprocess.Popen, url: str, token: str, entry_id: str,
               deadline: float, log_path: Path) -> str:
    """Poll until HA runs, the MQTT entry is loaded and its client connected.
    Returns "ok", "port-in-use", or raises PeerError."""
    stage = "waiting for the HTTP API"
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PeerError(f"hass exited with status {proc.returncode} ({stage})")
        if stage == "waiting for the HTTP API" and log_path.exists():
            text = log_path.read_text(errors="replace")
            if "Failed to create HTTP server" in text:
                return "port-in-use"
            if "Activating recovery mode" in text:
                raise PeerError("Home Assistant activated recovery mode (a core "
                                "integration failed: see the log); it would listen "
                                "on port 8123 instead of ours")
        try:
            if stage == "waiting for the HTTP API":
                status, body = http_json(f"{url}/api/", token, timeout=2)
                if status == 401:
                    raise PeerError("the API rejects the access token (401)")
                if status == 200:
                    stage = "waiting for Home Assistant to reach RUNNING"
            if stage == "waiting for Home Assistant to reach RUNNING":
                status, body = http_json(f"{url}/api/config", token, timeout=2)
                last = f"core state {body.get('state') if isinstance(body, dict) else body}"
                if status == 200 and body.get("state") == "RUNNING":
                    stage = "waiting for the MQTT config entry to load"
            if stage == "waiting for the MQTT config entry to load":
                status, body = http_json(
                    f"{url}/api/config/config_entries/entry?domain=mqtt", token,
                    timeout=2)
                entry = next((e for e in body or [] if e.get("entry_id") == entry_id),
                             None) if status == 200 else None
                state = entry.get("state") if entry else None
                last = f"mqtt entry state {state}"
                if state in ("setup_error", "migration_error", "failed_unload",
                             "not_loaded"):
                    raise PeerError(f"MQTT config entry is {state}: "
                                    f"{entry.get('reason')}")
                if state == "loaded":
                    stage = "waiting for the MQTT client to connect to the broker"
            if stage == "waiting for the MQTT client to connect to the broker":
                status, body = http_json(
                    f"{url}/api/diagnostics/config_entry/{entry_id}", token,
                    timeout=5)
                connected = (body or {}).get("data", {}).get("connected") \
                    if status == 200 and isinstance(body, dict) else None
                last = f"mqtt connected={connected}"
                if connected:
                    return "ok"
        except (OSError, ValueError, AttributeError):
            pass  # not listening yet / restarting
        time.sleep(0.25)
    raise PeerError(f"timed out {stage} ({last})")


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def cmd_start(args) -> int:
    # A test runner that gives up on us sends SIGTERM (or SIGHUP): stop the hass we
    # started instead of leaving it behind, like on Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    config_dir = Path(args.config_dir).resolve()
    config_dir.mkdir(parents=True, exist_ok=True)
    ha_dir = Path(args.ha_dir).resolve()
    hass = ha_dir / "venv" / "bin" / "hass"
    if not hass.exists():
        raise PeerError(f"{hass} is missing: run Tests/HomeAssistant/prepare.sh "
                        f"{ha_dir} first")
    previous = read_json(config_dir / PEER_FILE) or {}
    if previous.get("pid") and process_alive(previous["pid"]):
        try:
            cmdline = Path(f"/proc/{previous['pid']}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if str(config_dir).encode() in cmdline:
            raise PeerError(f"hass pid {previous['pid']} is still running on {config_dir}: "
                            "stop it first")
    token = write_storage(config_dir, args.broker_host, args.broker_port,
                          args.broker_username, args.broker_password)
    entry_id = read_json(config_dir / PEER_FILE)["mqtt_entry_id"]
    log_path = config_dir / HA_LOG
    deadline = time.monotonic() + args.timeout
    attempts = 1 if args.http_port else 5
    for attempt in range(1, attempts + 1):
        port = args.http_port or pick_port()
        write_configuration(config_dir, port, args.mqtt_debug)
        url = f"http://127.0.0.1:{port}"
        if log_path.exists():
            log_path.unlink()  # HA would rotate it to .log.1; keep one log per start
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # let hass reuse/compile .pyc files
        with open(config_dir / CONSOLE_LOG, "ab") as console:
            proc = subprocess.Popen(
                [str(hass), "-c", str(config_dir)]
                + ([] if args.allow_pip else ["--skip-pip"])
                + ["--log-file", str(log_path), "--log-no-color"],
                stdin=subprocess.DEVNULL, stdout=console, stderr=console,
                start_new_session=True, env=env, cwd=str(config_dir))
        log(f"started hass pid {proc.pid} on {url} (attempt {attempt})")
        try:
            outcome = wait_ready(proc, url, token, entry_id, deadline, log_path)
        except (PeerError, KeyboardInterrupt) as err:
            kill_group(proc)
            sys.stderr.write(f"--- tail of {log_path}\n{tail(log_path)}\n")
            if not log_path.exists() or log_path.stat().st_size == 0:
                sys.stderr.write(f"--- tail of {config_dir / CONSOLE_LOG}\n"
                                 f"{tail(config_dir / CONSOLE_LOG)}\n")
            raise PeerError(f"Home Assistant did not become ready: {err}") from None
        if outcome == "ok":
            peer = read_json(config_dir / PEER_FILE)
            peer.update({"url": url, "pid": proc.pid})
            write_json(config_dir / PEER_FILE, peer)
            print(json.dumps({"url": url, "token": token, "pid": proc.pid,
                              "log": str(log_path)}), flush=True)
            return 0
        kill_group(proc)
        if args.http_port:
            sys.stderr.write(f"--- tail of {log_path}\n{tail(log_path, 20)}\n")
            raise PeerError(f"--http-port {port} is in use")
        log(f"port {port} was taken, retrying with another one")
    sys.stderr.write(f"--- tail of {log_path}\n{tail(log_path)}\n")
    raise PeerError("could not bind the HTTP server to a free port")


# --------------------------------------------------------------------------
# client commands
# --------------------------------------------------------------------------


def get_states(url: str, token: str) -> list:
    status, body = http_json(f"{url}/api/states", token)
    if status != 200:
        raise PeerError(f"GET /api/states: HTTP {status}: {body}")
    return body


def cmd_states(args) -> int:
    states = get_states(args.url, args.token)
    if args.domain:
        states = [s for s in states if s["entity_id"].startswith(args.domain + ".")]
    states.sort(key=lambda s: s["entity_id"])
    print(json.dumps(states, indent=2))
    return 0


def cmd_devices(args) -> int:
    ws = WebSocket(args.url)
    try:
        ws.auth(args.token)
        devices = ws.command("config/device_registry/list")
        entities = ws.command("config/entity_registry/list")
    finally:
        ws.close()
    by_device: dict[str, list[str]] = {}
    for ent in entities:
        if ent.get("device_id"):
            by_device.setdefault(ent["device_id"], []).append(ent["entity_id"])
    out = []
    for dev in devices:
        out.append({
            "id": dev["id"],
            "name": dev.get("name"),
            "name_by_user": dev.get("name_by_user"),
            "identifiers": dev.get("identifiers", []),
            "connections": dev.get("connections", []),
            "manufacturer": dev.get("manufacturer"),
            "model": dev.get("model"),
            "sw_version": dev.get("sw_version"),
            "hw_version": dev.get("hw_version"),
            "via_device_id": dev.get("via_device_id"),
            "config_entries": dev.get("config_entries", []),
            "entities": sorted(by_device.get(dev["id"], [])),
        })
    out.sort(key=lambda d: (d["name"] or "", d["id"]))
    print(json.dumps(out, indent=2))
    return 0


def cmd_wait_state(args) -> int:
    deadline = time.monotonic() + args.timeout
    quoted = urllib.parse.quote(args.entity)
    last: object = None
    while True:
        try:
            status, body = http_json(f"{args.url}/api/states/{quoted}", args.token)
            if status == 200:
                last = body
                seen = body.get("state")
            elif status == 404:
                last, seen = {"entity_id": args.entity, "state": "absent"}, "absent"
            else:
                raise PeerError(f"GET /api/states/{args.entity}: HTTP {status}: {body}")
        except OSError as err:
            last, seen = {"entity_id": args.entity, "error": str(err)}, None
        if seen == args.state:
            print(json.dumps(last))
            return 0
        if time.monotonic() >= deadline:
            print(json.dumps(last))
            log(f"timeout after {args.timeout}s: {args.entity} is "
                f"{seen!r}, wanted {args.state!r}")
            return 1
        time.sleep(args.interval)


def cmd_call(args) -> int:
    if "." not in args.service:
        raise PeerError("--service must look like domain.service")
    domain, service = args.service.split(".", 1)
    data = json.loads(args.data) if args.data else {}
    if args.entity:
        # Home Assistant answers 200 [] for an entity that does not exist: check first.
        status, _ = http_json(
            f"{args.url}/api/states/{urllib.parse.quote(args.entity)}", args.token)
        if status == 404:
            raise PeerError(f"entity {args.entity} does not exist")
        data["entity_id"] = args.entity
    status, body = http_json(f"{args.url}/api/services/{domain}/{service}",
                             args.token, method="POST", body=data, timeout=30)
    if status != 200:
        raise PeerError(f"POST /api/services/{domain}/{service}: HTTP {status}: {body}")
    print(json.dumps(body, indent=2))
    return 0


def cmd_stop(args) -> int:
    pid = args.pid
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except FileNotFoundError:
        print(json.dumps({"pid": pid, "stopped": "not-running"}))
        return 0
    if b"hass" not in cmdline and not args.force:
        raise PeerError(f"pid {pid} is not hass ({cmdline[:120]!r}); "
                        "use --force to stop it anyway")
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        pgid = None
    group = pgid == pid  # started by us in its own session/group
    how = "sigterm"
    try:
        if group:
            os.killpg(pid, signal.SIGTERM)
        else:
            os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + args.timeout
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if process_alive(pid):
        how = "sigkill"
        log(f"pid {pid} still running after {args.timeout}s, sending SIGKILL")
        try:
            if group:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        kill_deadline = time.monotonic() + 10
        while process_alive(pid) and time.monotonic() < kill_deadline:
            time.sleep(0.1)
        if process_alive(pid):
            raise PeerError(f"pid {pid} survived SIGKILL")
    print(json.dumps({"pid": pid, "stopped": how}))
    return 0


# --------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="ha_peer.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("start", help="start Home Assistant against a broker")
    p.add_argument("--config-dir", required=True)
    p.add_argument("--broker-host", default="127.0.0.1")
    p.add_argument("--broker-port", type=int, required=True)
    p.add_argument("--broker-username")
    p.add_argument("--broker-password")
    p.add_argument("--http-port", type=int,
                   help="default: a free port in 20000-31999, retried if taken")
    p.add_argument("--ha-dir", default=os.environ.get("GANGLION_HA_DIR", str(DEFAULT_HA_DIR)),
                   help="the prepare.sh DIR (default $GANGLION_HA_DIR or "
                        "<repo>/.build/homeassistant)")
    p.add_argument("--timeout", type=float, default=180.0,
                   help="seconds until ready (default 180)")
    p.add_argument("--allow-pip", action="store_true",
                   help="run hass without --skip-pip, so it pip-installs whatever "
                        "it misses: only to check that prepare.sh installed "
                        "everything (compare 'pip freeze' before and after; those "
                        "installs are not logged)")
    p.add_argument("--mqtt-debug", action="store_true",
                   help="log homeassistant.components.mqtt at debug level")
    p.set_defaults(func=cmd_start)

    def client(name, help_text, func):
        q = sub.add_parser(name, help=help_text)
        q.add_argument("--url", default=os.environ.get("HA_URL"), required="HA_URL" not in os.environ)
        q.add_argument("--token", default=os.environ.get("HA_TOKEN"),
                       required="HA_TOKEN" not in os.environ)
        q.set_defaults(func=func)
        return q

    q = client("states", "print states as JSON", cmd_states)
    q.add_argument("--domain")
    client("devices", "print the device registry as JSON", cmd_devices)
    q = client("wait-state", "wait until an entity has a state", cmd_wait_state)
    q.add_argument("--entity", required=True)
    q.add_argument("--state", required=True,
                   help="the state to wait for; 'absent' waits until the entity is gone")
    q.add_argument("--timeout", type=float, default=30.0)
    q.add_argument("--interval", type=float, default=0.2)
    q = client("call", "call a service", cmd_call)
    q.add_argument("--service", required=True, help="e.g. switch.turn_on")
    q.add_argument("--entity")
    q.add_argument("--data", help="extra service data as a JSON object")

    p = sub.add_parser("stop", help="stop a hass started by start")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds after SIGTERM before SIGKILL (default 30)")
    p.add_argument("--force", action="store_true",
                   help="stop the pid even if it does not look like hass")
    p.set_defaults(func=cmd_stop)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except PeerError as err:
        log(str(err))
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
