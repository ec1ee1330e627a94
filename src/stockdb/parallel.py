"""Spread per-symbol work over every core: a process pool fed chunks, one progress callback.

The work function runs in worker processes forked from a ``forkserver`` (never ``fork`` from
this process: it may hold DuckDB, SQLite and thread-pool state a forked child must not
inherit), so it must be a module-level function whose ``context`` and items pickle. The fork
server is a fresh interpreter that imports the work function's module once, in the
background; each worker is then a fork of it, ready in milliseconds instead of paying the
seconds pandas, pyarrow, TA-Lib and numba take to import. Keep work functions in modules
that import only what the work needs: the server imports the first such module it is asked for
and stays for the life of this process.

Workers never run the caller's ``__main__`` (multiprocessing would re-run a script's
top-level code in each of them): the work functions live in stockdb modules, so a script that
calls ``db.build_features()`` without an ``if __name__ == "__main__":`` guard stays safe. To
that end ``multiprocessing.spawn.get_preparation_data`` is wrapped, once per process, to leave
``__main__`` out for processes named ``stockdb-worker-*`` (ours) and only those.

Each chunk is one task; the function gets the whole chunk so it can set up once (open the data
folder) and reuse it. Results come back in the order of ``items``. With one worker (or a single
chunk) the same function runs in this process, so both paths execute the same code. A worker
that dies (SIGKILL, out of memory) ends the map with :class:`WorkerDied`; the work functions
write atomically, so nothing it was writing is visible. When the processes fit the cores
this process may use, each worker runs on a core of its own (:func:`_seating`).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import forkserver, spawn
from multiprocessing.context import ForkServerContext, ForkServerProcess
from multiprocessing.sharedctypes import Synchronized
from typing import Any, TypeVar

from stockdb.errors import StockDBError

__all__ = [
    "FEATURE_WORKERS",
    "ProgressFn",
    "WorkerDied",
    "chunks",
    "cores",
    "parallel_map",
    "prestart",
    "worker_count",
]

C = TypeVar("C")
T = TypeVar("T")
R = TypeVar("R")

ProgressFn = Callable[[int, int, str], None]
"""``(done, total, message)``: items finished so far, all items, the last finished item."""

FEATURE_WORKERS = (
    "stockdb.features.service",
    "exchange_calendars",  # imported lazily by a build's first symbol
    "numba.np.arraymath",
    "numba.typed",
)
"""What a feature build worker imports: named here (not in the features package, whose import
takes seconds) so the CLI can start the fork server before it imports anything itself."""

_CHUNKS_PER_WORKER = 4  # enough tasks to even out uneven symbols, few enough to set up rarely


class WorkerDied(StockDBError):
    """A worker process ended without answering (killed, or out of memory)."""


def _watch_server(server: int) -> None:
    while os.getppid() == server:
        time.sleep(1.0)
    os._exit(70)  # the fork server left with its client: nobody will read this worker's results


def _worker_start(seats: Synchronized[int] | None, cores: tuple[int, ...]) -> None:
    """In each worker: take the next seat's core when ``seats`` is given (see
    :func:`_seating`), and exit once the fork server is gone (it leaves when the process that
    started it ends, even by SIGKILL), so an abandoned worker never lingers."""
    if seats is not None:
        with seats.get_lock():
            seat = seats.value
            seats.value += 1
        os.sched_setaffinity(0, {cores[seat % len(cores)]})
    threading.Thread(target=_watch_server, args=(os.getppid(),), daemon=True).start()


def _seating(
    context: _WorkerContext, workers: int, local: bool
) -> tuple[Synchronized[int] | None, tuple[int, ...]]:
    """Where the workers run: each on a core of its own when there are no more processes
    than cores (Linux), else wherever the scheduler puts them (``(None, ())``).

    Pinned, a worker keeps its caches and its encoding threads share its core; measured on
    a 2-core feature build of 40 symbols, 3.1 s against 3.3-3.55 s floating. With ``local``
    this process works too and takes no seat: it is left where it runs, because the
    threads it starts meanwhile (a DuckDB database's among them) would stay pinned after the
    map; the workers take the other cores, leaving the first for it."""
    if not hasattr(os, "sched_setaffinity"):  # pragma: no cover - Linux has it
        return None, ()
    cores = tuple(sorted(os.sched_getaffinity(0)))
    if workers + int(local) > len(cores) or len(cores) < 2:
        return None, ()
    return context.Value("i", 1 if local else 0), cores


_WORKER_NAME = "stockdb-worker"


def _without_main(real: Callable[[str], dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    def get_preparation_data(name: str) -> dict[str, Any]:
        data = real(name)
        if name.startswith(_WORKER_NAME):  # our workers: no re-run of the caller's script
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    get_preparation_data.stockdb_workers = True  # type: ignore[attr-defined]
    return get_preparation_data


class _WorkerProcess(ForkServerProcess):
    """A pool worker: named so that starting it leaves ``__main__`` out (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = f"{_WORKER_NAME}-{self.name}"


class _WorkerContext(ForkServerContext):
    Process = _WorkerProcess


def _context(modules: Sequence[str]) -> _WorkerContext:
    """The workers' context; a fork server started from now on preloads ``modules`` and this
    one (it is started once per process: later lists do not change it)."""
    current = spawn.get_preparation_data
    if not getattr(current, "stockdb_workers", False):
        spawn.get_preparation_data = _without_main(current)  # type: ignore[assignment]
    context = _WorkerContext()
    context.set_forkserver_preload([__name__, *modules])
    return context


def prestart(modules: Sequence[str]) -> None:
    """Start the fork server now (preloading ``modules``) so its imports overlap with what
    this process does before it asks for workers."""
    _context(modules)
    forkserver.ensure_running()


def cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without affinity masks
        return max(1, os.cpu_count() or 1)


def worker_count(requested: int | None = None) -> int:
    """``requested`` when given (at least 1), else the cores this process may run on (1 in a
    daemonic process, such as a job worker, which may not start children)."""
    if requested is not None:
        return max(1, requested)
    if multiprocessing.current_process().daemon:
        return 1
    return cores()


def chunks(items: Sequence[T], count: int) -> list[list[T]]:
    """``items`` split into at most ``count`` contiguous, non-empty, near-equal lists."""
    count = max(1, min(count, len(items)))
    size, extra = divmod(len(items), count)
    out: list[list[T]] = []
    start = 0
    for k in range(count):
        stop = start + size + (1 if k < extra else 0)
        out.append(list(items[start:stop]))
        start = stop
    return [c for c in out if c]


def _label(chunk: Sequence[object]) -> str:
    return str(chunk[-1]) if chunk else ""


def parallel_map(
    fn: Callable[[C, list[T]], list[R]],
    context: C,
    items: Sequence[T],
    workers: int | None = None,
    progress: ProgressFn | None = None,
    chunk_items: int | None = None,
    local: Callable[[list[T]], list[R]] | None = None,
    preload: Sequence[str] = (),
) -> list[R]:
    """``fn(context, chunk)`` over chunks of ``items`` on ``workers`` processes, flattened in
    the order of ``items``; ``fn`` must return one result per item of its chunk.

    Items go ``chunk_items`` to a task (default: about four tasks per worker); one item per
    task suits work whose ``fn`` sets up once per process and then takes seconds per item.
    ``local(chunk)``, when given, does the same work in this process, which then counts as
    one of the ``workers``: while the workers start and whenever this process is idle, it
    takes the last chunk no worker has started yet, so the map is never slower than doing
    everything here. ``preload`` names modules the work imports lazily (the fork server
    imports them, and ``fn``'s module, once for every worker).
    ``progress`` is called in this process, before any work and after each chunk. The first
    error a chunk raises is re-raised here once the running chunks have stopped (chunks not
    yet started are cancelled).
    """
    n = 1 if multiprocessing.current_process().daemon else worker_count(workers)
    if chunk_items is not None:
        parts = chunks(items, -(-len(items) // max(1, chunk_items)))
    else:
        parts = chunks(items, n * _CHUNKS_PER_WORKER if n > 1 else 1)
    total = len(items)
    if progress is not None:
        progress(0, total, "")
    if n == 1 or len(parts) <= 1:
        out: list[R] = []
        # progress after each chunk of ``chunk_items``, else after each item
        for part in chunks(items, len(parts) if chunk_items is not None else len(items) or 1):
            out += _checked(fn(context, part) if local is None else local(part), part)
            if progress is not None:
                progress(len(out), total, _label(part))
        return out
    results: dict[int, list[R]] = {}
    size = min(n - (local is not None), len(parts))  # this process builds too with ``local``
    server = _context([fn.__module__, *preload])
    seats, cores = _seating(server, size, local is not None)
    with ProcessPoolExecutor(size, server, _worker_start, (seats, cores)) as pool:
        # A worker gets chunks only once it answered an empty one (imports done, set up), and
        # two at a time until the last few (the next one waits queued, so a worker never
        # idles while this process is busy with a chunk of its own, taken from the back with
        # ``local``).
        # Starting a worker waits for the fork server's imports: with ``local``, a thread
        # starts them while this process works.
        probes: list[Future[list[R]]] = []
        starter = threading.Thread(
            target=_probe, args=(pool, size, probes, fn, context), name="stockdb-pool", daemon=True
        )
        if local is None:
            starter.run()
        else:
            starter.start()
        running: dict[Future[list[R]], int] = {}
        front, back = 0, len(parts)  # parts[front:back] are not assigned yet

        def finish(k: int, result: list[R]) -> None:
            results[k] = _checked(result, parts[k])
            if progress is not None:
                progress(sum(len(parts[j]) for j in results), total, _label(parts[k]))

        try:
            while len(results) < len(parts):
                for future in [f for f in running if f.done()]:
                    finish(running.pop(future), future.result())
                ready = sum(p.done() and p.exception() is None for p in probes)
                for probe in list(probes):
                    if probe.done() and probe.exception() is not None:
                        raise probe.exception()  # type: ignore[misc]
                # near the end, one at a time: a queued chunk cannot be taken back
                depth = 2 if back - front > 2 * (ready + 1) else 1
                while front < back and len(running) < depth * ready:
                    running[pool.submit(fn, context, parts[front])] = front
                    front += 1
                if local is not None and front < back:
                    back -= 1
                    finish(back, local(parts[back]))
                elif len(results) < len(parts):
                    waiting = [*running, *(p for p in probes if not p.done())]
                    wait(waiting, return_when=FIRST_COMPLETED)
        except BrokenProcessPool as exc:
            raise WorkerDied(
                "a worker process died before finishing (killed, or out of memory); nothing "
                "it was writing was committed: run the command again"
            ) from exc
        except BaseException:
            for future in [*probes, *running]:
                future.cancel()
            raise
    return [r for k in range(len(parts)) for r in results[k]]


def _probe(
    pool: ProcessPoolExecutor,
    count: int,
    probes: list[Future[list[R]]],
    fn: Callable[[C, list[T]], list[R]],
    context: C,
) -> None:
    """Submit ``count`` empty chunks (each starts a worker); a failure to start one is the
    failure of its probe."""
    for _ in range(count):
        try:
            probes.append(pool.submit(fn, context, []))
        except BaseException as exc:  # the pool broke or shut down while starting
            failed: Future[list[R]] = Future()
            failed.set_exception(exc)
            probes.append(failed)
            return


def _checked(result: list[R], chunk: Sequence[object]) -> list[R]:
    if len(result) != len(chunk):
        raise RuntimeError(f"parallel work returned {len(result)} results for {len(chunk)} items")
    return result
