"""Spread per-symbol work over every core: a process pool fed chunks, one progress callback.

The work function runs in worker processes started with ``spawn`` (never ``fork``: the parent
may hold DuckDB, SQLite and thread-pool state a forked child must not inherit), so it must be
a module-level function whose ``context`` and items pickle. Each chunk is one task; the
function gets the whole chunk so it can set up once (open the data folder) and reuse it.
Results come back in the order of ``items``. With one worker (or a single chunk) the same
function runs in this process, so both paths execute the same code.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from typing import TypeVar

__all__ = ["ProgressFn", "chunks", "parallel_map", "worker_count"]

C = TypeVar("C")
T = TypeVar("T")
R = TypeVar("R")

ProgressFn = Callable[[int, int, str], None]
"""``(done, total, message)``: items finished so far, all items, the last finished item."""

_CHUNKS_PER_WORKER = 4  # enough tasks to even out uneven symbols, few enough to set up rarely


def worker_count(requested: int | None = None) -> int:
    """``requested`` when given (at least 1), else the cores this process may run on (1 in a
    daemonic process, such as a job worker, which may not start children)."""
    if requested is not None:
        return max(1, requested)
    if multiprocessing.current_process().daemon:
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without affinity masks
        return max(1, os.cpu_count() or 1)


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
) -> list[R]:
    """``fn(context, chunk)`` over chunks of ``items`` on ``workers`` processes, flattened in
    the order of ``items``; ``fn`` must return one result per item of its chunk.

    ``progress`` is called in this process, before any work and after each chunk. The first
    error a chunk raises is re-raised here once the running chunks have stopped (chunks not
    yet started are cancelled).
    """
    n = 1 if multiprocessing.current_process().daemon else worker_count(workers)
    parts = chunks(items, n * _CHUNKS_PER_WORKER if n > 1 else 1)
    total = len(items)
    if progress is not None:
        progress(0, total, "")
    if n == 1 or len(parts) <= 1:
        out: list[R] = []
        for part in chunks(items, len(items) or 1):  # item by item: progress after each
            out += _checked(fn(context, part), part)
            if progress is not None:
                progress(len(out), total, _label(part))
        return out
    results: dict[int, list[R]] = {}
    done = 0
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(n, len(parts)), mp_context=spawn) as pool:
        futures: dict[Future[list[R]], int] = {
            pool.submit(fn, context, part): k for k, part in enumerate(parts)
        }
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in finished:
                k = futures[future]
                error = future.exception()
                if error is not None:
                    for other in pending:
                        other.cancel()
                    raise error
                results[k] = _checked(future.result(), parts[k])
                done += len(parts[k])
                if progress is not None:
                    progress(done, total, _label(parts[k]))
    return [r for k in range(len(parts)) for r in results[k]]


def _checked(result: list[R], chunk: Sequence[object]) -> list[R]:
    if len(result) != len(chunk):
        raise RuntimeError(f"parallel work returned {len(result)} results for {len(chunk)} items")
    return result
