"""What the tests of several nodes start beside panelauth, on loopback, and stop again.

* `RedisServer`: a `redis-server` of the test's own (no snapshot, no append-only file), on a
  free port, that the test may stop and start again on the same port.
* `Nginx`: Debian's nginx as a TCP (`stream`) balancer in front of the nodes: one listener per
  panelauth port, round robin to the nodes, the PROXY protocol (v1) on every upstream
  connection; its configuration, pid file and logs live in a directory of the test's own, and
  it never touches the system's nginx (`daemon off;`, `-p`, `-c`, `-e`).
* `Forwarder`: a TCP forwarder (asyncio, in a thread of its own) between a node and a store,
  which can pass bytes on, hold them (a store that answers nothing: stalled, slow without
  bound), or refuse and cut every connection (unreachable).
* `fetch`: one request on a connection of its own (so a balancer picks a node for each), from
  a chosen loopback address, telling which node answered by the TLS certificate it showed.

Addresses: every one of 127.0.0.0/8 is the machine's own on Linux, so a socket can be bound to
127.0.0.2 or 127.0.0.3 to connect from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

NGINX = next(
    (path for path in ("/usr/sbin/nginx", "/usr/bin/nginx") if Path(path).exists()), "nginx"
)
NGINX_STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")
REDIS_SERVER = "/usr/bin/redis-server"
INSTALL_HINT = "run ./scripts/system-packages (nginx, libnginx-mod-stream, redis-server)"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at `host` now (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], bool], within: float, what: str, *, every: float = 0.05
) -> float:
    """Seconds until `check()` was true; AssertionError naming `what` after `within` s."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within:
            raise AssertionError(f"{what}: not within {within} s")
        time.sleep(every)
    return time.monotonic() - started


# -- Redis --------------------------------------------------------------------------------------


class RedisServer:
    """A redis-server of the test's own: `start()`, `stop()`, `start()` again (same port, empty,
    a new run id: what a restart without persistence is)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def answers(self) -> bool:
        try:
            with self._client() as client:
                return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    def start(self) -> None:
        assert Path(REDIS_SERVER).exists(), f"{REDIS_SERVER} missing: {INSTALL_HINT}"
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--daemonize",
                "no",
                "--maxmemory-policy",
                "noeviction",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        process = self.process
        try:
            wait_until(lambda: process.poll() is None and self.answers(), 10, "redis-server")
        except AssertionError:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL); the port is free again afterwards."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- nginx --------------------------------------------------------------------------------------


def nginx_config(
    directory: Path,
    routes: Mapping[int, Iterable[int]],
    *,
    listen_host: str = "127.0.0.1",
    bind: str | None = None,
) -> str:
    """A stream-only configuration: for each `listen port -> node ports`, one upstream (round
    robin, the default) and one server with `proxy_protocol on`; `bind`: the address nginx
    connects to the nodes from (`proxy_bind`)."""
    lines = [
        f"load_module {NGINX_STREAM_MODULE};",
        "daemon off;",
        "master_process on;",
        "worker_processes 1;",  # one round robin state per upstream: strict alternation
        f"pid {directory / 'nginx.pid'};",
        f"error_log {directory / 'error.log'} info;",
        "events { worker_connections 256; }",
        "stream {",
        "    log_format balanced '$remote_addr:$remote_port [$time_local] $server_port "
        "-> $upstream_addr $status $session_time';",
        f"    access_log {directory / 'stream.log'} balanced;",
        "    proxy_protocol on;",
        "    proxy_connect_timeout 2s;",
        "    proxy_next_upstream on;",  # the default, written down: a failed connect tries the next
    ]
    if bind is not None:
        lines.append(f"    proxy_bind {bind};")
    for listen, targets in routes.items():
        lines.append(f"    upstream to_{listen} {{")
        lines += [f"        server 127.0.0.1:{target};" for target in targets]
        lines.append("    }")
        lines.append(f"    server {{ listen {listen_host}:{listen}; proxy_pass to_{listen}; }}")
    lines.append("}")
    return "\n".join(lines) + "\n"


class Nginx:
    """Debian's nginx, in the foreground, with a configuration of the test's own."""

    def __init__(self, directory: Path, config: str) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.config_path = directory / "nginx.conf"
        self.config_path.write_text(config)
        self.process: subprocess.Popen[bytes] | None = None

    def _command(self, *extra: str) -> list[str]:
        assert Path(NGINX).exists(), f"nginx missing: {INSTALL_HINT}"
        assert NGINX_STREAM_MODULE.exists(), f"{NGINX_STREAM_MODULE} missing: {INSTALL_HINT}"
        prefix = str(self.directory) + "/"
        error_log = str(self.directory / "error.log")
        return [NGINX, "-p", prefix, "-c", str(self.config_path), "-e", error_log, *extra]

    def start(self) -> None:
        checked = subprocess.run(
            self._command("-t"), capture_output=True, text=True, timeout=30, check=False
        )
        assert checked.returncode == 0, checked.stderr
        pid_file = self.directory / "nginx.pid"
        pid_file.unlink(missing_ok=True)
        output = (self.directory / "nginx.out").open("ab")
        process = self.process = subprocess.Popen(
            self._command(), stdout=output, stderr=subprocess.STDOUT
        )
        output.close()

        def started() -> bool:
            assert process.poll() is None, self.errors()
            return pid_file.exists() and pid_file.read_text().strip() == str(process.pid)

        wait_until(started, 10, "nginx")

    def errors(self) -> str:
        path = self.directory / "error.log"
        return path.read_text() if path.exists() else ""

    @property
    def stream_log(self) -> str:
        path = self.directory / "stream.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # a fast stop of the master and its worker
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- a TCP forwarder ----------------------------------------------------------------------------


class Forwarder:
    """127.0.0.1:`port` -> `target`, in a thread of its own. `stall()` holds every byte (both
    ways, connections stay open) until `flow()`; `refuse()` cuts every connection and refuses
    new ones until `accept()`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> Forwarder:
        self._thread.start()
        self._call(self._flow_now())
        self.accept()
        return self

    def __exit__(self, *exc: object) -> None:
        self.refuse()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _call(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout=10)

    async def _flow_now(self) -> None:
        self._flowing.set()

    async def _stall_now(self) -> None:
        self._flowing.clear()

    def flow(self) -> None:
        self._call(self._flow_now())

    def stall(self) -> None:
        self._call(self._stall_now())

    def accept(self) -> None:
        self._call(self._listen())

    def refuse(self) -> None:
        self._call(self._close_all())

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._handle, "127.0.0.1", self.port, reuse_address=True
            )

    async def _close_all(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))
        await asyncio.gather(
            self._pump(reader, upstream_writer),
            self._pump(upstream_reader, writer),
            return_exceptions=True,
        )
        for each in (writer, upstream_writer):
            self._writers.discard(each)
            each.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()


# -- one request, one connection ----------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    response: httpx.Response
    certificate: bytes  # DER of the certificate the server showed (b"" on a plain port)
    seconds: float


def pinned_context() -> ssl.SSLContext:
    """For a balancer in front of nodes with self-signed certificates of the same subject
    (OpenSSL cannot trust two such at once): no verification in the handshake; the caller
    checks that the certificate shown (`Answer.certificate`) is one of the nodes' own."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def fetch(
    method: str,
    url: str,
    *,
    context: ssl.SSLContext | None = None,
    source: str | None = None,
    timeout: float = 15,
    **request: Any,
) -> Answer:
    """One request on a new connection from `source` (an address of this machine)."""
    transport = httpx.HTTPTransport(
        verify=context if context is not None else True,
        local_address=source,
        retries=0,
    )
    started = time.monotonic()
    with (
        httpx.Client(transport=transport, timeout=timeout) as client,
        client.stream(method, url, **request) as response,
    ):
        response.read()
        stream = response.extensions.get("network_stream")
        tls = stream.get_extra_info("ssl_object") if stream is not None else None
        certificate = (tls.getpeercert(True) or b"") if tls is not None else b""
    return Answer(response, certificate, time.monotonic() - started)


def certificate_of(cert_file: Path | str) -> bytes:
    return ssl.PEM_cert_to_DER_cert(Path(cert_file).read_text())
