"""The headless Monado runtime (built by ``../shared/xr/setup-monado.sh``) for tests and benchmarks.

* :class:`MonadoService` — starts ``monado-service`` (null compositor on lavapipe, the remote
  driver's HMD and two Index controllers) in its own ``XDG_RUNTIME_DIR`` / ``XDG_CONFIG_HOME``
  with its own remote-driver port, points this process's OpenXR loader at it, and stops it by
  PID. ``inproc=True`` uses the in-process build instead (no service; the runtime lives in the
  client process).
* :class:`RemoteController` — a client for Monado's remote driver (TCP): press and release
  controller buttons, set the trigger. The state persists in the runtime after a client leaves,
  so :meth:`RemoteController.close` sends the state it found back first.

Never use the remote driver on a machine others can reach: it listens on all interfaces.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

from artem_vr.errors import RuntimeUnavailable

DEFAULT_DIR = "/var/cache/artem-xr"
FIX_BUILD = "Monado not built: run .ci/xr-setup.sh (needs ../shared/xr)"


def monado_dir() -> Path:
    return Path(os.environ.get("ARTEM_XR_DIR", DEFAULT_DIR))


def monado_built(inproc: bool = False) -> tuple[bool, str]:
    """(built?, reason) for the runtime under $ARTEM_XR_DIR (default /var/cache/artem-xr)."""
    root = monado_dir()
    need = [root / "install-inproc/share/openxr/1/openxr_monado.json"] if inproc else [
        root / "install/bin/monado-service", root / "install/share/openxr/1/openxr_monado.json"]
    missing = [str(p) for p in need if not p.exists()]
    if missing:
        return False, f"{FIX_BUILD}; missing {', '.join(missing)}"
    return True, str(root)


def _lavapipe_icd() -> str | None:
    found = sorted(glob.glob("/usr/share/vulkan/icd.d/lvp_icd*.json"))
    return found[0] if found else None


class MonadoService:
    """Headless Monado for this process: ``with MonadoService(workdir, port=…) as m: …``.

    ``workdir`` holds the runtime dir, config and the service log (``m.log_path``). While the
    block runs, ``os.environ`` points OpenXR clients at this runtime (restored afterwards).
    """

    def __init__(self, workdir: str | os.PathLike, port: int = 4242, *, inproc: bool = False,
                 start_timeout: float = 15.0):
        self.workdir = Path(workdir)
        self.port = int(port)
        self.inproc = inproc
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "monado-service.log"
        self._saved: dict[str, str | None] = {}
        self._log = None

    def env(self) -> dict[str, str]:
        """Environment for the runtime and its clients."""
        root = monado_dir()
        build = "install-inproc" if self.inproc else "install"
        env = {
            "XR_RUNTIME_JSON": str(root / build / "share/openxr/1/openxr_monado.json"),
            "XDG_RUNTIME_DIR": str(self.workdir / "run"),
            "XDG_CONFIG_HOME": str(self.workdir / "config"),
            "XRT_COMPOSITOR_NULL": "1",
            "XRT_NO_STDIN": "1",
            "P_OVERRIDE_ACTIVE_CONFIG": "remote",
            "XRT_LOG": os.environ.get("XRT_LOG", "warning"),
        }
        icd = _lavapipe_icd()
        if icd:
            env["VK_ICD_FILENAMES"] = env["VK_DRIVER_FILES"] = icd
        return env

    def __enter__(self) -> "MonadoService":
        ok, why = monado_built(self.inproc)
        if not ok:
            raise RuntimeUnavailable(why, "sudo XR=/var/cache/artem-xr INPROC=1 ../shared/xr/setup-monado.sh")
        env = self.env()
        run_dir, cfg_dir = Path(env["XDG_RUNTIME_DIR"]), Path(env["XDG_CONFIG_HOME"]) / "monado"
        run_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(run_dir, 0o700)
        cfg_dir.mkdir(parents=True, exist_ok=True)
        (cfg_dir / "config_v0.json").write_text(json.dumps(
            {"active": "remote", "remote": {"version": 0, "port": self.port, "view_count": 2}}))
        for k, v in env.items():
            self._saved[k] = os.environ.get(k)
            os.environ[k] = v
        if not self.inproc:
            try:
                self._start(env)
            except BaseException:
                self._restore_env()
                raise
        return self

    def _start(self, env: dict[str, str]) -> None:
        exe = monado_dir() / "install/bin/monado-service"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(exe)], env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        sock = Path(env["XDG_RUNTIME_DIR"]) / "monado_comp_ipc"
        t_end = time.monotonic() + self.start_timeout
        while time.monotonic() < t_end:
            if self.proc.poll() is not None:
                raise RuntimeUnavailable(f"monado-service exited with code {self.proc.returncode}: {self.log_tail()}",
                                         "see the service log; rebuild with .ci/xr-setup.sh")
            if sock.exists() and _port_open(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeUnavailable(f"monado-service did not open {sock} and port {self.port} within "
                                 f"{self.start_timeout:.0f} s: {self.log_tail()}", "see the service log")

    def log_tail(self, n: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the service by its PID (SIGTERM, then SIGKILL after 5 s)."""
        p, self.proc = self.proc, None
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _restore_env(self) -> None:
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved.clear()

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        finally:
            self._restore_env()

    def remote(self, timeout: float = 10.0) -> "RemoteController":
        return RemoteController(port=self.port, timeout=timeout)


def _port_open(port: int) -> bool:
    # A bare connect would be taken by the hub as its (single) client and then dropped; the
    # listening socket shows up in /proc/net/tcp instead, which disturbs nothing.
    hexport = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[1].endswith(hexport) and cols[3] == "0A":  # 0A = LISTEN
                    return True
        except OSError:
            continue
    return not Path("/proc/net/tcp").exists()  # no /proc: assume it is up once the socket exists


# ------------------------------------------------------------------------- remote driver wire format
# struct r_remote_data (Monado 25, src/xrt/drivers/remote/r_interface.h), native little-endian:
# u64 header "mndrmt3\0" @0, head (128 bytes) @8, left controller @136, right controller @256;
# 376 bytes in all. Offsets inside a controller (120 bytes):
_CTRL_OFFSET = {"left": 136, "right": 256}
_FLOATS = {"trigger_value": 72, "squeeze_value": 76, "squeeze_force": 80, "trackpad_force": 92}
_BOOLS = {"hand_tracking_active": 104, "active": 105, "system_click": 106, "system_touch": 107,
          "a_click": 108, "a_touch": 109, "b_click": 110, "b_touch": 111, "trigger_click": 112,
          "trigger_touch": 113, "thumbstick_click": 114, "thumbstick_touch": 115, "trackpad_touch": 116}
REMOTE_SIZE = 376
REMOTE_HEADER = b"mndrmt3\0"
#: the head's centre pose in r_head_data (after views[2], 48 bytes each): orientation x, y, z, w
_HEAD_ORIENTATION = 8 + 96


class RemoteController:
    """Monado remote-driver client: ``press("a")``, ``release("a")``, ``set_trigger(0.5)``.

    The hub accepts one client; on connect it sends two states (reset, latest). Every state
    we send replaces the runtime's. ``close()`` puts back the hub's reset state.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 4242, timeout: float = 10.0):
        t_end = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection((host, port), timeout=2.0)
                break
            except OSError:
                if time.monotonic() > t_end:
                    raise RuntimeUnavailable(f"Monado's remote driver does not answer on {host}:{port}",
                                             "start monado-service with P_OVERRIDE_ACTIVE_CONFIG=remote") from None
                time.sleep(0.1)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        got = b""
        while len(got) < 2 * REMOTE_SIZE:
            chunk = self.sock.recv(2 * REMOTE_SIZE - len(got))
            if not chunk:
                raise RuntimeUnavailable("Monado's remote hub closed the connection", "only one client at a time")
            got += chunk
        self.initial = bytes(got[:REMOTE_SIZE])  # the hub's reset state: what we put back on close
        self.state = bytearray(self.initial)
        self.state[0:8] = REMOTE_HEADER
        for hand in ("left", "right"):
            self._put(hand, "active", True)
        self.sent = 0

    def _put(self, hand: str, name: str, value) -> None:
        base = _CTRL_OFFSET[hand]
        if name in _FLOATS:
            struct.pack_into("<f", self.state, base + _FLOATS[name], float(value))
        else:
            struct.pack_into("<?", self.state, base + _BOOLS[name], bool(value))

    def get(self, hand: str, name: str):
        base = _CTRL_OFFSET[hand]
        if name in _FLOATS:
            return struct.unpack_from("<f", self.state, base + _FLOATS[name])[0]
        return struct.unpack_from("<?", self.state, base + _BOOLS[name])[0]

    def send(self) -> None:
        self.sock.sendall(bytes(self.state))
        self.sent += 1

    def press(self, button: str, hand: str = "right") -> None:
        """button: a, b, system, trigger, thumbstick → its _click and _touch held down."""
        self._put(hand, f"{button}_click", True)
        if f"{button}_touch" in _BOOLS:
            self._put(hand, f"{button}_touch", True)
        self.send()

    def release(self, button: str, hand: str = "right") -> None:
        self._put(hand, f"{button}_click", False)
        if f"{button}_touch" in _BOOLS:
            self._put(hand, f"{button}_touch", False)
        self.send()

    def set_trigger(self, value: float, hand: str = "right") -> None:
        """Trigger position 0–1 (touch follows; click at 1)."""
        self._put(hand, "trigger_value", value)
        self._put(hand, "trigger_touch", value > 0.0)
        self._put(hand, "trigger_click", value >= 0.99)
        self.send()

    def set_value(self, name: str, value: float, hand: str = "right") -> None:
        """A controller's analogue input (trigger_value, squeeze_value, …) to ``value``."""
        self._put(hand, name, value)
        self.send()

    def set_head_yaw(self, degrees: float) -> None:
        """Turn the head about +y (positive: to the left), keeping its position."""
        import math

        a = math.radians(degrees)
        struct.pack_into("<4f", self.state, _HEAD_ORIENTATION, 0.0, math.sin(a / 2), 0.0, math.cos(a / 2))
        self.send()

    def close(self) -> None:
        if self.sock is None:
            return
        try:
            reset = bytearray(self.initial)
            reset[0:8] = REMOTE_HEADER
            self.sock.sendall(bytes(reset))
            time.sleep(0.05)
        except OSError:
            pass
        finally:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def which_xvfb() -> str | None:
    return shutil.which("Xvfb")
