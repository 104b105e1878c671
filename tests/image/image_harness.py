"""An image built by scripts/image-build.py (rootfs/ + config.json) and
containers of it: processes chrooted into its files, as its user, with its
environment plus what a compose file would add, on a loopback port."""
import json
import os
import signal
import subprocess

from conftest import env, free_port, http_status


class Image:
    def __init__(self, directory):
        self.rootfs = os.path.realpath(os.path.join(directory, "rootfs"))
        with open(os.path.join(directory, "config.json")) as f:
            self.config = json.load(f)

    def user(self):
        """(uid, gid, shell) of the image's USER (root when it has none)."""
        name = self.config["user"] or "root"
        with open(os.path.join(self.rootfs, "etc/passwd")) as f:
            for line in f:
                login, _, uid, gid, _, _, shell = line.rstrip("\n").split(":")
                if name in (login, uid):
                    return int(uid), int(gid), shell
        raise AssertionError(f"USER {name!r} is not in the image's /etc/passwd")

    def argv(self, argv, environ, as_root=False):
        """argv run inside the image: its user, its WORKDIR, only `environ`."""
        spec = [] if as_root else ["--userspec=%d:%d" % self.user()[:2]]
        return (["chroot"] + spec + [self.rootfs, "/usr/bin/env", "-i"] +
                ["%s=%s" % kv for kv in environ.items()] +
                ["/bin/sh", "-c", 'cd "$0" && exec "$@"', self.config["workdir"]] + argv)

    def run(self, argv, environ=None, as_root=False):
        return subprocess.run(self.argv(argv, self.config["env"] if environ is None else environ,
                                        as_root), capture_output=True, text=True)

    def container_env(self, **extra):
        """The image's ENV plus what docker-compose.yml passes (loopback here)."""
        e = dict(self.config["env"])
        e.update(DATABASE_URL=env("PGAPP_GATEWAY_DATABASE_URL"),
                 GATEWAY_LISTEN="127.0.0.1", PORT=str(free_port()), GATEWAY_WORKERS="2")
        e.update(extra)
        return e


class Container:
    """`docker run`: ENTRYPOINT + CMD of the image; output to log_path."""

    def __init__(self, image, log_path, **extra_env):
        self.image = image
        self.env = image.container_env(**extra_env)
        self.url = "http://127.0.0.1:%s" % self.env["PORT"]
        self.log_path = log_path
        self.log = open(log_path, "w")
        argv = (image.config["entrypoint"] or []) + (image.config["cmd"] or [])
        self.proc = subprocess.Popen(image.argv(argv, self.env), stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def status(self, path):
        return http_status(self.url + path)

    def ready(self):
        return self.status("/ready") == 200

    def stop(self, timeout=20):
        """`docker stop`: the image's STOPSIGNAL, then the exit status."""
        sig = getattr(signal, self.image.config["stopsignal"])
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()

    def logged(self):
        with open(self.log_path) as f:
            return f.read()
