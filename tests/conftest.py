"""Shared fixtures: real local services, and a test session that cannot leave the machine.

Under pytest-xdist (``make test``: ``-n 2``) every worker has its own session fixtures (its own moto server
and Dask processes); ``pytest_xdist_make_scheduler`` keeps each test file that defines a module-scoped
fixture on one worker.

Session-wide (autouse):
    * ``offline_aws_env``: fake AWS credentials, a fixed region, no proxies, no shared AWS config or
      credential files, no instance-metadata lookups, botocore retries cut to one. Nothing a developer
      has configured for real AWS can be picked up by a test.
    * ``loopback_only``: TCP connections from the test process to anything but loopback fail at once
      with ``OSError(ENETUNREACH)``. (Subprocesses are not covered; they inherit the offline environment.)

S3:
    * ``s3_server``: moto's S3 server as a real subprocess over HTTP on ``127.0.0.1:<free port>``;
      ``stop()`` / ``start()`` restart it on the same port for fault injection. moto keeps its state in
      memory: a restart loses every bucket and object.
    * ``s3_client``: a boto3 client for that server (test setup and assertions only).
    * ``s3_bucket_url`` / ``s3_config``: a fresh bucket with versioning ENABLED, as ``s3://<bucket>/raw``,
      and the matching :class:`~telemetry.config.S3Config` (distinctive fake key and secret, so tests can
      check that credentials never leak). Mark tests that use them ``@pytest.mark.s3``.

    Known quirk: moto's server (werkzeug) sends two ``Server`` headers. aiohttp accepts that normally but
    rejects it when Python runs in development mode (``python -X dev`` / ``PYTHONDEVMODE=1``), so run the
    S3 tests without development mode.

Dask:
    * ``dask_cluster_address``: a real ``dask scheduler`` and two ``dask worker`` subprocesses
      (``--nthreads 1 --memory-limit 2GiB``, no nanny, no dashboards) on ``127.0.0.1:<free port>``
      (their HTTP servers, which run anyway, listen on loopback too), ready
      (both workers registered) when the fixture returns. ``.address`` is the scheduler address;
      ``kill_worker(i)`` SIGKILLs worker ``i`` (named ``worker-<i>``) and ``restart_worker(i)`` starts it
      again and waits until it is registered. A test that kills a worker restarts it before it ends
      (``ensure_workers()`` brings every worker back), since the fixture is shared by the session.
"""

from __future__ import annotations

import errno
import http.client
import ipaddress
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pytest

from telemetry.config import S3Config, Secret

FAKE_ACCESS_KEY_ID = "AKIAMOTOFAKEKEY00001"
FAKE_SECRET_ACCESS_KEY = "moto-fake-secret-d41f7c2e9b"
REGION = "us-east-1"

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "FTP_PROXY")
_AWS_VARS_TO_CLEAR = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)


# ------------------------------------------------------------------------------- parallel runs (xdist)

_MODULE_FIXTURE = re.compile(r"@pytest\.fixture\([^)]*scope=\"module\"")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``pytest -n N`` (``make test`` runs ``-n 2``): a test file that defines a module-scoped fixture (a
    simulated fleet, a trained model, ...) runs whole on one worker, so the fixture is built once; every
    other test goes to whichever worker is free. A file is judged by its text (the controller collects
    nothing). xdist's own ``xdist_group`` marks group nothing under pytest 9: xdist 3.8 tags
    ``item._nodeid``, which pytest 9 no longer reads. ``--dist`` modes other than the default ``load`` are
    left to xdist."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    seen: dict[str, bool] = {}

    def runs_whole(path: str) -> bool:
        if path not in seen:
            file = config.rootpath / path
            seen[path] = file.is_file() and bool(_MODULE_FIXTURE.search(file.read_text(encoding="utf-8")))
        return seen[path]

    class ModuleFixtureScheduling(LoadScopeScheduling):  # type: ignore[misc]
        """Work units: a whole file where it defines a module-scoped fixture, else one test; units with
        more tests are handed out first (xdist's ``--loadscope-reorder``, on by default)."""

        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if runs_whole(path) else nodeid

    return ModuleFixtureScheduling(config, log)


# ------------------------------------------------------------------------------- offline session


@pytest.fixture(scope="session", autouse=True)
def offline_aws_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fake AWS credentials, fixed region, no proxies, no ~/.aws files, no metadata service."""
    missing = tmp_path_factory.mktemp("aws") / "does-not-exist"
    with pytest.MonkeyPatch.context() as mp:
        for name in _PROXY_VARS:
            mp.delenv(name, raising=False)
            mp.delenv(name.lower(), raising=False)
        for name in _AWS_VARS_TO_CLEAR:
            mp.delenv(name, raising=False)
        mp.setenv("NO_PROXY", "127.0.0.1,localhost,::1")
        mp.setenv("no_proxy", "127.0.0.1,localhost,::1")
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_REGION", REGION)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        # one botocore retry with standard backoff: a request to a stopped server fails in ~1 s instead
        # of up to ~15 s (legacy mode, 5 attempts). Read when a client is built; s3fs caches clients.
        mp.setenv("AWS_RETRY_MODE", "standard")
        mp.setenv("AWS_MAX_ATTEMPTS", "2")
        mp.setenv("AWS_CONFIG_FILE", str(missing))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(missing))
        yield


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return host == "localhost"


@pytest.fixture(scope="session", autouse=True)
def loopback_only() -> Iterator[None]:
    """Refuse TCP connections to anything but loopback from the test process.

    UDP ``connect`` is allowed: it sends nothing (distributed uses it to find the local address).
    """
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
            host = str(address[0])
            if not _is_loopback(host):
                raise OSError(
                    errno.ENETUNREACH, f"tests may only connect to loopback, not {host!r} (conftest.py)"
                )

    def connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return original_connect_ex(self, address)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket.socket, "connect_ex", connect_ex)
        yield


# ------------------------------------------------------------------------------- moto S3 server


def http_answers(host: str, port: int, *, timeout: float) -> bool:
    """Whether an HTTP server on ``host:port`` answers ``GET /`` (any status) within ``timeout`` seconds."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/")
        conn.getresponse().read()
    except OSError:
        return False
    finally:
        conn.close()
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class MotoServer:
    """moto's S3 server in a subprocess, restartable on the same port (state is lost on restart)."""

    host = "127.0.0.1"

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        """Start the server (no-op when running) and wait until it answers HTTP."""
        if self.running:
            return
        self.stop()  # reap a crashed process, close its log
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self._env(),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if self._answers():
                return
            time.sleep(0.05)
        log_tail = self.log_path.read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"moto server did not start on {self.endpoint_url} within {timeout}s:\n{log_tail}")

    @staticmethod
    def _env() -> dict[str, str]:
        """The offline environment of `offline_aws_env`, without the test process' debugging aids
        (tracemalloc makes moto start minutes late)."""
        drop = {"PYTHONTRACEMALLOC", "PYTHONDEVMODE", "PYTHONASYNCIODEBUG", "PYTHONWARNINGS"}
        return {k: v for k, v in os.environ.items() if k not in drop}

    def stop(self) -> None:
        """Terminate the server (no-op when stopped); moto's in-memory state is lost."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=10)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _answers(self) -> bool:
        return http_answers(self.host, self.port, timeout=1)  # GET / = ListBuckets


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory, offline_aws_env: None) -> Iterator[MotoServer]:
    """A running moto S3 server on 127.0.0.1 (see :class:`MotoServer`)."""
    server = MotoServer(_free_port(), tmp_path_factory.mktemp("moto") / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_server: MotoServer) -> Iterator[Any]:
    """A boto3 S3 client bound to the moto server (for setup and assertions, not the code under test)."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        region_name=REGION,
        aws_access_key_id=FAKE_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
        config=Config(retries={"max_attempts": 2, "mode": "standard"}),
    )
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def s3_bucket_url(s3_server: MotoServer, s3_client: Any) -> str:
    """``s3://<fresh bucket>/raw`` on the moto server, bucket versioning ENABLED.

    Buckets are not deleted afterwards: names are unique and moto's state dies with the server.
    """
    s3_server.start()  # in case a fault-injection test left it stopped
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=bucket)
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return f"s3://{bucket}/raw"


@pytest.fixture
def s3_config(s3_server: MotoServer) -> S3Config:
    """S3 settings for the moto server (fake, distinctive credentials)."""
    return S3Config(
        endpoint_url=s3_server.endpoint_url,
        region=REGION,
        key=Secret(FAKE_ACCESS_KEY_ID),
        secret=Secret(FAKE_SECRET_ACCESS_KEY),
    )


# ------------------------------------------------------------------------------- Dask processes


def _service_env() -> dict[str, str]:
    """The test session's (offline) environment without the test process' debugging aids."""
    drop = {"PYTHONTRACEMALLOC", "PYTHONDEVMODE", "PYTHONASYNCIODEBUG", "PYTHONWARNINGS"}
    return {k: v for k, v in os.environ.items() if k not in drop}


class DaskProcesses:
    """``dask scheduler`` + ``dask worker`` subprocesses on 127.0.0.1 (workers without nanny: the
    subprocess *is* the worker, so SIGKILL kills exactly one worker and nothing restarts it)."""

    host = "127.0.0.1"
    n_workers = 2
    timeout = 60.0

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self._scheduler: subprocess.Popen[bytes] | None = None
        self._workers: list[subprocess.Popen[bytes] | None] = [None] * self.n_workers
        self._logs: dict[str, IO[bytes]] = {}

    @property
    def address(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    @staticmethod
    def worker_name(i: int) -> str:
        return f"worker-{i}"

    # -- processes

    def _spawn(self, name: str, args: Sequence[str]) -> subprocess.Popen[bytes]:
        self._close_log(name)
        log = self._logs[name] = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed in _reap
        return subprocess.Popen(
            [sys.executable, "-m", "dask", *args],  # = `dask scheduler` / `dask worker` of this venv
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_service_env(),
        )

    def _close_log(self, name: str) -> None:
        log = self._logs.pop(name, None)
        if log is not None:
            log.close()

    def _reap(self, name: str, proc: subprocess.Popen[bytes] | None, *, kill: bool) -> None:
        if proc is not None and proc.poll() is None:
            if kill:
                proc.kill()
            else:
                proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        self._close_log(name)

    def _log_tail(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def _start_worker(self, i: int) -> None:
        name = self.worker_name(i)
        local_dir = self.workdir / name
        local_dir.mkdir(exist_ok=True)
        self._workers[i] = self._spawn(
            name,
            [
                "worker",
                self.address,
                "--name",
                name,
                "--nthreads",
                "1",
                "--memory-limit",
                "2GiB",
                "--host",
                self.host,
                "--no-nanny",
                "--no-dashboard",
                "--dashboard-address",
                f"{self.host}:0",
                "--local-directory",
                str(local_dir),
                "--death-timeout",
                "60",  # a worker orphaned by a killed test session exits on its own
            ],
        )

    def start(self) -> None:
        """Start the scheduler and every worker; return when all workers are registered."""
        self._scheduler = self._spawn(
            "scheduler",
            # the HTTP server (health, metrics) runs even with --no-dashboard: keep it on loopback too
            [
                "scheduler",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--no-dashboard",
                "--dashboard-address",
                f"{self.host}:0",
            ],
        )
        deadline = time.monotonic() + self.timeout
        while not self._scheduler_listens():
            if self._scheduler.poll() is not None or time.monotonic() > deadline:
                log_tail = self._log_tail("scheduler")
                self.stop()
                raise RuntimeError(f"dask scheduler did not start on {self.address}:\n{log_tail}")
            time.sleep(0.05)
        for i in range(self.n_workers):
            self._start_worker(i)
        self.wait_for(lambda names: len(names) == self.n_workers, f"{self.n_workers} workers")

    def _scheduler_listens(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            return sock.connect_ex((self.host, self.port)) == 0

    def stop(self) -> None:
        """Stop workers (gracefully, then by force) and the scheduler; no process is left behind."""
        for i, proc in enumerate(self._workers):
            self._reap(self.worker_name(i), proc, kill=False)
            self._workers[i] = None
        self._reap("scheduler", self._scheduler, kill=False)
        self._scheduler = None

    # -- fault injection

    def worker_alive(self, i: int) -> bool:
        proc = self._workers[i]
        return proc is not None and proc.poll() is None

    def kill_worker(self, i: int) -> None:
        """SIGKILL worker ``i`` (no graceful shutdown: its tasks and data are lost)."""
        self._reap(self.worker_name(i), self._workers[i], kill=True)
        self._workers[i] = None

    def restart_worker(self, i: int) -> None:
        """Start worker ``i`` again (killing it first if it runs) and wait until it is registered."""
        name = self.worker_name(i)
        self.kill_worker(i)
        self.wait_for(lambda names: name not in names, f"the scheduler to drop {name}")
        self._start_worker(i)
        self.wait_for(lambda names: name in names, f"{name} to register")

    def ensure_workers(self) -> None:
        """Restart every worker that is not running."""
        for i in range(self.n_workers):
            if not self.worker_alive(i):
                self.restart_worker(i)

    def wait_for(self, condition: Any, what: str) -> None:
        """Poll the names of the workers the scheduler has registered until ``condition(names)`` holds."""
        from distributed import Client

        deadline = time.monotonic() + self.timeout
        procs = {"scheduler": self._scheduler} | {self.worker_name(i): p for i, p in enumerate(self._workers)}
        with Client(self.address, timeout=self.timeout, set_as_default=False) as client:
            while True:
                for name, proc in procs.items():
                    if proc is not None and proc.poll() is not None:
                        raise RuntimeError(f"dask {name} exited ({proc.returncode}):\n{self._log_tail(name)}")
                info = client.scheduler_info(n_workers=-1)
                names = {str(w.get("name")) for w in info["workers"].values()}
                if condition(names):
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"timed out waiting for {what} on {self.address} (registered: {names})"
                    )
                time.sleep(0.05)


@pytest.fixture(scope="session")
def dask_cluster_address(
    tmp_path_factory: pytest.TempPathFactory, offline_aws_env: None
) -> Iterator[DaskProcesses]:
    """A real Dask scheduler with two workers on 127.0.0.1 (see :class:`DaskProcesses`)."""
    cluster = DaskProcesses(_free_port(), tmp_path_factory.mktemp("dask"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
