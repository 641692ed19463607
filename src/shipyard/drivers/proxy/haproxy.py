"""HAProxy as Shipyard's data plane: process, configuration file and runtime API.

Called by the engine through the ``Proxy`` interface. HAProxy runs in
master-worker mode in its own session, so it keeps serving when the control
plane dies; a restarted control plane adopts it from its pid file, which also records the
shape of the configuration it runs (``ProxyLayout.shape``): the same shape gets its addresses
and routing through the runtime API, any other a hitless reload. The
configuration and map files always match the state (each rewritten atomically when
its text changes), so an HAProxy that restarts routes as recorded; transitions are
applied through the admin socket with no reload.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from shipyard.core.proxy import (
    parse_queues,
    parse_show_stat,
    plan_transition,
    render_haproxy_config,
    render_maps,
)
from shipyard.core.proxy_edge import maintenance_files
from shipyard.core.proxy_layout import MapFiles, ProxyLayout, ServerState
from shipyard.drivers.files import read_json, write_atomic, write_json
from shipyard.drivers.runtime import procs
from shipyard.errors import ProxyError

ACME_VALUE = re.compile(r"^[A-Za-z0-9_-]{1,256}(\.[A-Za-z0-9_-]{1,256})?$")
INSTALL_HINT = (
    "install HAProxy with `sudo apt-get install -y haproxy` (Debian/Ubuntu) "
    "or `sudo dnf install -y haproxy`, or set SHIPYARD_HAPROXY to its path"
)


def find_haproxy(explicit: str | None = None) -> str:
    """Path of the haproxy binary, or a ProxyError saying how to install it."""
    candidate = explicit or os.environ.get("SHIPYARD_HAPROXY") or shutil.which("haproxy")
    if not candidate:
        for path in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy"):
            if os.access(path, os.X_OK):
                candidate = path
    if not candidate or not os.access(candidate, os.X_OK):
        raise ProxyError("HAProxy is not installed (no `haproxy` on PATH)", INSTALL_HINT)
    return candidate


class HAProxy:
    def __init__(
        self, folder: Path, binary: str, stats_bind: str | None = None, log_target: str | None = None
    ) -> None:
        self.folder = folder
        self.binary = binary
        self.stats_bind = stats_bind
        # The access-log receiver's Unix socket (drivers/proxy/accesslog.py), relative to HAProxy's
        # working folder (``folder``): HAProxy takes socket paths of at most 97 characters, and
        # a home's absolute path can be longer.
        self.log_target = (
            os.path.relpath(Path(log_target).resolve(), folder.resolve()) if log_target else None
        )
        self.config_path = folder / "haproxy.cfg"
        self.socket_path = folder / "admin.sock"
        self.pid_path = folder / "haproxy.json"
        self.log_path = folder / "haproxy.log"
        self.maps = MapFiles(
            *(str((folder / name).resolve()) for name in ("colours.map", "weights.map", "maintenance.map"))
        )
        self._lock = threading.RLock()
        self._layout: ProxyLayout | None = None
        self._applied: ProxyLayout | None = None
        self._ref: procs.ProcessRef | None = None
        self._shape = ""  # digest of the running configuration's shape (``ProxyLayout.shape``)
        self._load_ref()
        self._child: subprocess.Popen[bytes] | None = None
        self._written: dict[Path, str] = {}  # what this process last wrote to each file
        self._challenges: dict[str, str] = {}  # pending ACME challenges, kept across reloads

    # the Proxy interface -----------------------------------------------------------------
    def sync(self, layout: ProxyLayout) -> None:
        with self._lock:
            files = self._render(layout)  # checks every value before any of it goes anywhere
            if (
                self.is_running()
                and self._applied is not None
                and self._applied.structure() == layout.structure()
            ):
                # routing or addresses only: the runtime API first (traffic moves now), then the
                # files for a restart; every (re)start takes this lock, so none reads them between
                self._send(self._diff(self._applied, layout))
                self._swap_certificates(self._applied, layout)
                self._layout = self._applied = layout
                self._write_changed(files)
                return
            if self.is_running() and self._applied is None and self._shape == self._shape_of(layout):
                # adopted after a control-plane restart, running this structure: every address
                # and map entry set through the runtime API (the routing it kept is unknown).
                # No reload, so the worker keeps its connections and its access-log ring.
                self._send(self._diff(ProxyLayout(()), layout))
                self._swap_certificates(ProxyLayout(()), layout)
                self._layout = self._applied = layout
                self._write_changed(files)
                return
            self._write_changed(files)
            if not self.is_running():
                self._start(layout)
            else:
                # adopted from an older configuration, or a structural change: a hitless
                # reload makes the worker read the config just written.
                self._reload()
                self._record(self._ref, layout)
            self._layout = self._applied = layout
            self._remove_stale_certificates(files)

    def ensure_running(self) -> bool:
        with self._lock:
            if self.is_running() or self._layout is None:
                return False
            self._start(self._layout)
            return True

    def server_states(self) -> list[ServerState]:
        return parse_show_stat(self.command("show stat"))

    def queued(self) -> dict[str, int]:
        return parse_queues(self.command("show stat"))

    def stop(self) -> None:
        with self._lock:
            if self._ref is not None:
                procs.terminate_group(self._ref, timeout=5)
            self._ref, self._shape = None, ""
            self._applied = None
            self.pid_path.unlink(missing_ok=True)

    def is_running(self) -> bool:
        return procs.is_alive(self._ref)

    def owns(self, pid: int) -> bool:
        """Whether ``pid`` is one of this HAProxy's processes (the master's session: its workers)."""
        leaders = {ref.pid for ref in (self._ref,) if ref is not None}
        if self._child is not None:
            leaders.add(self._child.pid)
        try:
            return os.getsid(pid) in leaders
        except OSError:
            return False

    def publish_challenge(self, token: str, answer: str) -> None:
        _check_token(token, answer)
        with self._lock:  # a reload renders the map file from ``_challenges`` under this lock
            self.withdraw_challenge(token)  # a token answered again gets one entry
            self._challenges[token] = answer
            self._send([f"add map {self.maps.acme_file()} {token} {answer}"])

    def withdraw_challenge(self, token: str) -> None:
        _check_token(token)
        with self._lock:
            self._challenges.pop(token, None)
            answer = self.command(f"del map {self.maps.acme_file()} {token}").strip()
        if answer and not answer.startswith("Key not found"):  # already gone is fine
            raise ProxyError(
                f"HAProxy refused to withdraw an ACME challenge: {answer[:200]}",
                "check `shipyard status`; the control plane restarts HAProxy when it dies",
            )

    # runtime API ---------------------------------------------------------------------------
    def command(self, line: str) -> str:
        """Send one runtime API line (commands joined with ';') and return the answer."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(str(self.socket_path))
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while data := sock.recv(65536):
                    chunks.append(data)
        except OSError as exc:
            raise ProxyError(
                f"HAProxy's runtime API at {self.socket_path} did not answer: {exc}",
                "check `shipyard status`; the control plane restarts HAProxy when it dies",
            ) from None
        return b"".join(chunks).decode(errors="replace")

    def _send(self, commands: list[str]) -> None:
        if not commands:
            return
        answer = self.command("; ".join(commands))
        problems = [ln for ln in answer.splitlines() if ln.strip() and not _harmless(ln)]
        if problems:
            raise ProxyError(
                f"HAProxy refused a routing change: {problems[0]}",
                "this is a bug in Shipyard's proxy plan; the previous routing is kept",
            )

    def _swap_certificates(self, before: ProxyLayout, after: ProxyLayout) -> None:
        """Give the running HAProxy each changed certificate over the runtime API (a transaction
        per file, then its commit): new handshakes use it at once, no reload, no connection lost."""
        for be in after.backends:
            old = before.backend(be.env)
            if be.certificate is None or (old is not None and old.certificate == be.certificate):
                continue
            path = self.maps.cert_file(be.env)
            staged = self.command(f"set ssl cert {path} <<\n{be.certificate.text.strip()}\n")
            done = self.command(f"commit ssl cert {path}") if "Transaction" in staged else ""
            if "Success" not in done:
                self.command(f"abort ssl cert {path}")
                answer = (staged + done).strip().splitlines()
                raise ProxyError(
                    f"HAProxy refused the new certificate of {be.env} ({be.certificate!r}): "
                    f"{answer[-1][:200] if answer else 'no answer'}",
                    "the previous certificate keeps serving; check the chain and key with "
                    "`openssl x509 -noout -text` and try again",
                )

    def _diff(self, before: ProxyLayout, after: ProxyLayout) -> list[str]:
        out: list[str] = []
        for be in after.backends:
            out += plan_transition(before.backend(be.env), be, self.maps)
        return out

    # process ------------------------------------------------------------------------------
    def _write_config(self, layout: ProxyLayout) -> None:
        """The maps and the config that name them, so a (re)started HAProxy routes as ``layout``."""
        self._write_changed(self._render(layout))

    def _render(self, layout: ProxyLayout) -> dict[Path, str]:
        colours, weights = render_maps(layout)
        text = render_haproxy_config(
            layout, str(self.socket_path), self.stats_bind, self.maps, self.log_target
        )
        return {
            Path(self.maps.colours): colours,
            Path(self.maps.weights): weights,
            **{Path(path): body for path, body in maintenance_files(layout, self.maps).items()},
            Path(self.maps.acme_file()): "".join(f"{t} {a}\n" for t, a in self._challenges.items()),
            **self._certificate_files(layout),
            self.config_path: text + "\n",
        }

    def _certificate_files(self, layout: ProxyLayout) -> dict[Path, str]:
        """Each HTTPS listener's chain and key, as HAProxy reads them at start (mode 0600)."""
        files: dict[Path, str] = {}
        for be in layout.backends:
            if be.edge.tls is None:
                continue
            if be.certificate is None:
                raise ProxyError(
                    f"environment {be.env} listens for HTTPS but has no certificate",
                    "this is a bug in Shipyard's certificates step; the previous configuration is kept",
                )
            files[Path(self.maps.cert_file(be.env))] = be.certificate.text.strip() + "\n"
        return files

    def _remove_stale_certificates(self, files: dict[Path, str]) -> None:
        """Delete the PEM file (its private key) of an environment that no longer listens for
        HTTPS, once HAProxy runs without it: the key is kept nowhere it is not needed."""
        for path in self.folder.glob("cert-*.pem"):
            if path.resolve() not in {p.resolve() for p in files}:
                path.unlink(missing_ok=True)
                self._written.pop(path, None)

    def _write_changed(self, files: dict[Path, str]) -> None:
        """Write each file (atomically, fsynced) unless this process last wrote the same text
        there: a routing change rewrites one map, not the config (each write costs two fsyncs)."""
        for path, text in files.items():
            if self._written.get(path) == text and path.exists():
                continue
            self._written.pop(path, None)
            write_atomic(path, text, mode=0o600)
            self._written[path] = text

    def _start(self, layout: ProxyLayout) -> None:
        self._check_config()
        self.socket_path.unlink(missing_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            child = subprocess.Popen(
                [self.binary, "-W", "-db", "-f", str(self.config_path.resolve())],
                cwd=self.folder.resolve(),  # the access log's socket is named relative to it
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        self._child = child
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise ProxyError(
                    f"HAProxy exited at start: {self._log_tail()}",
                    "a public port may be taken by another program: free it or change "
                    "`environments.<name>.port` in shipyard.yaml",
                )
            if self.socket_path.exists() and self._answers():
                self._record(procs.ref_of(child.pid), layout)
                self._applied = layout
                return
            time.sleep(0.02)
        procs.terminate_group(procs.ref_of(child.pid), 2)
        raise ProxyError("HAProxy did not open its runtime API within 10 s", self._log_tail())

    def _reload(self) -> None:
        """Hitless reload of the master (new worker reads the rewritten config)."""
        self._check_config()
        assert self._ref is not None
        before = self._worker_pid()
        os.kill(self._ref.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                if self._worker_pid() not in (before, ""):
                    return
            except ProxyError:
                continue
        raise ProxyError("HAProxy did not finish reloading within 10 s", self._log_tail())

    def _check_config(self, path: Path | None = None) -> None:
        """``haproxy -c`` on the configuration file (or on ``path``, a candidate not yet in place)."""
        path = path or self.config_path
        done = subprocess.run(
            [self.binary, "-c", "-f", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise ProxyError(
                f"HAProxy rejected the configuration Shipyard wrote ({path}): "
                f"{(done.stderr or done.stdout).strip()[-500:]}",
                "report this as a Shipyard bug; the previous routing keeps serving",
            )

    def _worker_pid(self) -> str:
        for line in self.command("show info").splitlines():
            if line.startswith("Pid:"):
                return line.split(":", 1)[1].strip()
        return ""

    def _answers(self) -> bool:
        try:
            return "Name: HAProxy" in self.command("show info")
        except ProxyError:
            return False

    def _shape_of(self, layout: ProxyLayout) -> str:
        text = render_haproxy_config(
            layout.shape(), str(self.socket_path), self.stats_bind, self.maps, self.log_target
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def _record(self, ref: procs.ProcessRef | None, layout: ProxyLayout) -> None:
        """Remember the master and the shape of the configuration it runs, for a restarted
        control plane (``_load_ref``)."""
        assert ref is not None
        self._ref, self._shape = ref, self._shape_of(layout)
        write_json(self.pid_path, {"pid": ref.pid, "create_time": ref.create_time, "shape": self._shape})

    def _load_ref(self) -> None:
        data = read_json(self.pid_path)
        if not isinstance(data, dict):
            return
        ref = procs.ProcessRef(int(data["pid"]), float(data["create_time"]))
        if procs.is_alive(ref):
            self._ref, self._shape = ref, str(data.get("shape", ""))

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except FileNotFoundError:
            return "(no HAProxy log)"
        return " | ".join(ln for ln in lines[-4:] if ln) or "(empty HAProxy log)"


def _harmless(line: str) -> bool:
    """Answers of the runtime API that are not errors."""
    text = line.strip()
    return text.startswith(("IP changed", "no need to change", "port changed")) or ("changed from" in text)


def _check_token(*values: str) -> None:
    """An ACME token and key authorization are base64url (and one dot): nothing else reaches the
    runtime API's command line."""
    if not all(ACME_VALUE.match(v) for v in values):
        raise ProxyError(
            "the ACME server sent a challenge token that is not base64url",
            "this ACME server is not RFC 8555 compliant; use another `edge.tls.acme.directory`",
        )
