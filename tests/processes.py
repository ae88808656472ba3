"""Real server processes for outage and topology tests: a TCP proxy, Redis, gunicorn.

Each listens on a free loopback port and is stopped by the test that started it
(only by its own process id). ``freeze``/``thaw`` send SIGSTOP/SIGCONT: the
process keeps its sockets (the kernel still accepts and buffers) but answers
nothing, as a hung server does.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import redis
import requests

from demo.fhir_server import free_port

ROOT = Path(__file__).resolve().parents[1]


class Process:
    process: subprocess.Popen[bytes]

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


class TcpProxy(Process):
    """``tests.tcp_proxy`` in front of ``target``, on ``port`` (0: a free one)."""

    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.tcp_proxy", str(port), target[0], str(target[1])],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())


class RedisServer(Process):
    """A private redis-server on a free port: no persistence, stopped with the test."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.fail("redis-server is not installed (Debian package redis-server)")
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=1)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.RedisError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        pytest.fail(f"redis-server did not start on port {self.port}")
                    time.sleep(0.05)
        finally:
            client.close()


NGINX_CANDIDATES = ("nginx", "/usr/sbin/nginx")


def nginx_executable() -> str | None:
    for candidate in NGINX_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


class Nginx(Process):
    """nginx with the shipped ``deploy/nginx.conf``, rewritten for a private instance.

    Only the lines marked "rewritten by the topology test" change: the listening
    address, the upstream servers, the pid file, temp directories and the error
    bodies' directory (the shipped ``deploy/errors``), and the user (the current one:
    ignored by nginx unless it runs as root). Everything else is served as shipped.
    """

    CONFIG = ROOT / "deploy" / "nginx.conf"

    def __init__(self, executable: str, directory: Path, upstreams: list[int]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        servers = "\n".join(
            f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in upstreams
        )
        replacements = {
            "user www-data;": f"user {getpass.getuser()};",
            "pid /run/nginx.pid;": f"pid {directory / 'nginx.pid'};",
            "/var/lib/nginx/": f"{directory}/",
            "        server cds:8080 max_fails=1 fail_timeout=5s;": servers,
            "listen 8080;": f"listen 127.0.0.1:{self.port};",
            "alias /usr/share/cds-nginx/errors/;": f"alias {ROOT / 'deploy' / 'errors'}/;",
        }
        config = self.CONFIG.read_text(encoding="utf-8")
        for old, new in replacements.items():
            assert old in config, f"deploy/nginx.conf no longer has {old!r}"
            config = config.replace(old, new)
        path = directory / "nginx.conf"
        path.write_text(config, encoding="utf-8")
        self.log = directory / "nginx.log"
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                [executable, "-p", str(directory), "-c", str(path), "-g", "daemon off;"],
                stdout=output,
                stderr=output,
            )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    pytest.fail(f"nginx did not start: {self.log.read_text()}")
                time.sleep(0.05)


class Gunicorn(Process):
    """The production entry (``gunicorn.conf.py``, ``cds_service.wsgi:app``) on a free port."""

    def __init__(
        self, env: dict[str, str], log: Path, *, workers: int = 2, extra_args: Sequence[str] = ()
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "gunicorn"),
                    "-c",
                    "gunicorn.conf.py",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    str(workers),
                    *extra_args,
                    "cds_service.wsgi:app",
                ],
                cwd=ROOT,
                env={**env, "PORT": str(self.port)},
                stdout=output,
                stderr=output,
                start_new_session=True,  # its own process group: kill_instance ends all of it
            )

    def kill_instance(self) -> None:
        """SIGKILL to the master and its workers at once (the group this object started)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def wait_until_serving(self, timeout_s: float = 30) -> None:
        """Until a worker answers ``/healthz`` with 200."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited: {self.log.read_text()}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or workers still booting
                pass
            time.sleep(0.2)
        pytest.fail(f"gunicorn did not serve within {timeout_s} s: {self.log.read_text()}")

    def wait_until_answering(self, timeout_s: float = 30) -> None:
        """Until a worker answers HTTP at all (any status: its stores may be down)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited: {self.log.read_text()}")
            try:
                requests.get(f"{self.url}/healthz", timeout=5)
                return
            except requests.RequestException:  # not listening yet, or workers still booting
                time.sleep(0.1)
        pytest.fail(f"gunicorn did not answer within {timeout_s} s: {self.log.read_text()}")
