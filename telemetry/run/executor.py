"""Running the pipeline's tasks in this process or on a Dask cluster, behind one interface.

One failure policy for both executors:

- inside a task, transient store errors (connection refused or reset, timeouts, throttling, HTTP 5xx) are
  retried with backoff for :data:`TRANSIENT_RETRY_S` (:func:`with_retries`); tasks are idempotent (every
  output is one atomic put, the lineage or report written last), so a retry is safe;
- on Dask a task is also re-run up to :data:`TASK_RETRIES` times when its worker is lost (the in-process
  executor has no worker to lose);
- a task that still fails is reported as a failed :class:`Outcome` (``"<ExceptionType>: <message>"``) and
  the run goes on; a task that depends on a failed task fails with the same error, without running.

After every task the executor returns the memory the task freed to the system
(:func:`release_freed_memory`), so a long-lived process or worker stays near its live data.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa

from telemetry.io.store import TRANSIENT_ERRORS

__all__ = [
    "TASK_RETRIES",
    "TRANSIENT_RETRY_S",
    "DaskExecutor",
    "Executor",
    "InProcessExecutor",
    "Outcome",
    "Task",
    "executor_for",
    "release_freed_memory",
    "with_retries",
]

logger = logging.getLogger(__name__)

TRANSIENT_RETRY_S = 120.0
"""How long a task (or the driver's listing and manifest write) keeps retrying transient store errors
(connection refused or reset, timeouts, throttling, HTTP 5xx) before it fails."""

TASK_RETRIES = 2
"""How many times Dask re-runs a task whose worker was lost."""

_T = TypeVar("_T")


def with_retries(fn: Callable[..., _T], *args: Any, retry_s: float = TRANSIENT_RETRY_S) -> _T:
    """``fn(*args)``, retried with jittered exponential backoff (0.2 s doubling to 5 s) while it raises a
    transient store error and less than `retry_s` seconds have passed; other errors propagate at once."""
    deadline = time.monotonic() + retry_s
    delay = 0.2
    while True:
        try:
            return fn(*args)
        except TRANSIENT_ERRORS as exc:
            pause = delay * random.uniform(0.5, 1.0)
            if time.monotonic() + pause > deadline:
                raise
            logger.warning("transient store error (%s), retrying in %.1f s", exc, pause)
            time.sleep(pause)
            delay = min(delay * 2, 5.0)


def release_freed_memory() -> None:
    """Return the pages a finished task freed, in Arrow's memory pool and in glibc's heap, to the system.

    Arrow's pool (mimalloc or jemalloc) keeps freed pages for reuse, so after an extraction (the transient
    parse buffers of a full-rate robot-day) a worker's RSS would stay that much above what it holds; glibc
    keeps the heap that NumPy's freed arrays leave (with its default, dynamic thresholds, which the workers
    keep: see ``telemetry.run.cluster.WORKER_DASK_CONFIG``) until ``malloc_trim``. Releasing both is cheap
    and keeps a worker's RSS (what the Dask nanny and Kubernetes memory limits see) near its live data.
    """
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl)."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def _run_task(fn: Callable[..., _T], _dependencies: Sequence[Any], *args: Any) -> _T:
    """The body every executor runs: ``fn(*args)`` with transient retries, then the freed memory released.

    ``_dependencies`` are the results of the tasks this one waits for (Dask passes them; unused)."""
    try:
        return with_retries(fn, *args)
    finally:
        release_freed_memory()


@dataclass(frozen=True, slots=True)
class Task:
    """A submitted task: ``key`` is unique in the run (the Dask key), ``label`` names it in reports."""

    key: str
    label: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished task: its result, or ``error`` (``"<ExceptionType>: <message>"``) when it failed."""

    task: Task
    result: Any = None
    error: str | None = None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Executor(ABC):
    """Submit tasks (with the tasks they wait for), then collect every outcome as tasks finish."""

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        key: str,
        label: str | None = None,
        after: Sequence[Task] = (),
    ) -> Task:
        """Schedule ``fn(*args)`` to run once the tasks of `after` (submitted earlier) have finished.

        `key` must be unique in the run; `label` names the task in outcomes (default: the key)."""
        task = Task(key, label or key)
        self._schedule(task, fn, args, tuple(after))
        return task

    @abstractmethod
    def _schedule(
        self, task: Task, fn: Callable[..., Any], args: tuple[Any, ...], after: tuple[Task, ...]
    ) -> None: ...

    @abstractmethod
    def outcomes(self) -> Iterator[Outcome]:
        """The outcome of every task submitted so far, in the order they finish (each once)."""

    def group(self, name: str) -> contextlib.AbstractContextManager[object]:
        """Tasks submitted inside belong to group `name` (a span on the Dask dashboard)."""
        return contextlib.nullcontext()


class InProcessExecutor(Executor):
    """Runs the tasks in this process, one after another, in the order they were submitted (a task's
    dependencies are always submitted before it)."""

    def __init__(self) -> None:
        self._pending: list[tuple[Task, Callable[..., Any], tuple[Any, ...], tuple[Task, ...]]] = []

    def _schedule(
        self, task: Task, fn: Callable[..., Any], args: tuple[Any, ...], after: tuple[Task, ...]
    ) -> None:
        self._pending.append((task, fn, args, after))

    def outcomes(self) -> Iterator[Outcome]:
        errors: dict[Task, str] = {}
        pending, self._pending = self._pending, []
        for task, fn, args, after in pending:
            failed = next((errors[t] for t in after if t in errors), None)
            if failed is not None:
                errors[task] = failed
                yield Outcome(task, error=failed)
                continue
            try:
                result = _run_task(fn, (), *args)
            except Exception as exc:  # the policy: report the task as failed, run the others
                errors[task] = _describe(exc)
                yield Outcome(task, error=errors[task])
            else:
                yield Outcome(task, result=result)


class DaskExecutor(Executor):
    """Runs the tasks on a Dask cluster through `client` (a ``distributed.Client``)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._futures: dict[Any, Task] = {}
        self._by_task: dict[Task, Any] = {}

    def _schedule(
        self, task: Task, fn: Callable[..., Any], args: tuple[Any, ...], after: tuple[Task, ...]
    ) -> None:
        dependencies = [self._by_task[t] for t in after]
        future = self._client.submit(
            _run_task, fn, dependencies, *args, key=task.key, retries=TASK_RETRIES, pure=False
        )
        self._futures[future] = task
        self._by_task[task] = future

    def outcomes(self) -> Iterator[Outcome]:
        from distributed import as_completed  # edge: only the executor touches Dask

        futures, self._futures = self._futures, {}
        self._by_task = {}
        for future in as_completed(list(futures)):  # type: ignore[no-untyped-call]
            task = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # after its retries (a failed dependency fails it with the same error)
                yield Outcome(task, error=_describe(exc))
            else:
                yield Outcome(task, result=result)

    def group(self, name: str) -> contextlib.AbstractContextManager[object]:
        from distributed import span

        manager: contextlib.AbstractContextManager[object] = span(name)
        return manager


def executor_for(client: Any) -> Executor:
    """The Dask executor of `client` (a ``distributed.Client``), or the in-process one when it is None."""
    return InProcessExecutor() if client is None else DaskExecutor(client)
