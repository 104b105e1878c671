"""Start a second pgapp-gateway with a chosen environment, for tests that
need a special configuration, a restart or a signal.

The binary comes from PGAPP_GATEWAY_BIN (default gateway/pgapp-gateway) and
the database from PGAPP_GATEWAY_DATABASE_URL, both exported by
scripts/test.sh; its log goes to the run's directory (PGAPP_CLUSTER_DIR).  The environment is built from scratch, so nothing of the
test runner's (a SECRET_KEY, say) leaks into the gateway by accident.
"""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

from conftest import ROOT, free_port, http_status  # noqa: F401 (free_port: for the tests that import it here)


def gateway_bin():
    return os.environ.get("PGAPP_GATEWAY_BIN",
                          os.path.join(ROOT, "gateway", "pgapp-gateway"))


def gateway_database_url():
    url = os.environ.get("PGAPP_GATEWAY_DATABASE_URL")
    if not url:
        raise RuntimeError("PGAPP_GATEWAY_DATABASE_URL is not set: run through `make test`")
    return url


def base_env(**overrides):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": gateway_database_url(),
        "GATEWAY_LISTEN": "127.0.0.1",
        "PORT": str(free_port()),
        "GATEWAY_WORKERS": "2",
    }
    for k, v in overrides.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


class Gateway:
    """A gateway process on its own port; stderr goes to self.log_path."""

    def __init__(self, **env):
        self.env = base_env(**env)
        self.port = int(self.env["PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        # in the run's directory: removed with it, kept with it (KEEP=1)
        fd, self.log_path = tempfile.mkstemp(prefix="pgapp-gw-", suffix=".log",
                                             dir=os.environ.get("PGAPP_CLUSTER_DIR"))
        os.close(fd)
        self.proc = None

    def start(self, wait_ready=True, timeout=20.0):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([gateway_bin()], env=self.env,
                                     stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + timeout
        path = "/ready" if wait_ready else "/live"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited {self.proc.returncode}: {self.log()}")
            if http_status(self.url + path, timeout=1) == 200:
                return self
            time.sleep(0.05)
        raise RuntimeError(f"gateway not {path} in {timeout}s: {self.log()}")

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout=30.0):
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout=30.0):
        """SIGTERM by PID, wait, return the exit code (SIGKILL if stuck)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def access_line(self, request_id):
        for line in self.log().splitlines():
            if f"rid={request_id}" in line and " access " in line:
                return line
        return None

    def wait_access_line(self, request_id, timeout=5.0):
        """The access line of a request, once written (lines are batched)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.access_line(request_id)
            if line is not None:
                return line
            time.sleep(0.05)
        return None

    def client_of(self, request_id, timeout=5.0):
        line = self.wait_access_line(request_id, timeout)
        m = line and re.search(r" client=(\S+)", line)
        return m.group(1) if m else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def run_until_exit(env, timeout=15.0):
    """Run a gateway expected to refuse to start: (exit code, stderr)."""
    proc = subprocess.run([gateway_bin()], env=env, capture_output=True,
                          timeout=timeout)
    return proc.returncode, proc.stderr.decode("utf-8", "replace")


# ---- raw HTTP, for what an HTTP library would refuse to send ----

def raw_request(url_or_port, data, timeout=10.0, read_all=True):
    """Send bytes, return (status, headers dict lower-cased, body bytes).
    status is None when the connection closed without an answer."""
    port = url_or_port if isinstance(url_or_port, int) else int(url_or_port.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_response(s, timeout)


def read_response(s, timeout=10.0):
    s.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            chunk = b""
        if not chunk:
            if not buf:
                return None, {}, b""
            break
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), v.strip())
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        body += chunk
    return status, headers, body


def is_closed(sock, timeout):
    """True when the peer closes sock within timeout seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
