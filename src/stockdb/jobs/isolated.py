"""CPU-heavy jobs in a child process, so a cancel really ends them.

A model fit or a feature build holds the CPU in native code for minutes and never looks at
``should_stop``. The executor therefore runs these handlers in a fresh (spawned) process and
stays in the parent: it relays progress to the state store, checks ``should_stop`` every
``poll_s`` seconds and, when asked to stop, ends the child: SIGTERM first, which raises
:class:`JobTerminated` inside the handler so its cleanup (temp files, open transactions)
runs, then SIGKILL after ``grace_s``. Every writer the handlers use is atomic (temp file and
rename, one transaction per row), so a terminated job leaves nothing half-written.

The child watches its parent: if the worker dies (even by ``kill -9``), the child exits too.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any

from stockdb.config import Settings
from stockdb.errors import StockDBError

__all__ = ["JobTerminated", "picklable", "run_in_child"]

log = logging.getLogger("stockdb.jobs")

Handler = Callable[..., Mapping[str, Any]]
ProgressFn = Callable[[int, int, str], None]


class JobTerminated(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error
    """Raised inside a child job when its worker asks it to end (SIGTERM)."""


class ChildDied(StockDBError):
    """The job's process ended without a result (killed from outside, or crashed)."""


def picklable(handler: Handler) -> bool:
    """Whether ``handler`` can be sent to a child process (module-level functions can)."""
    try:
        pickle.dumps(handler)
    except Exception:
        return False
    return True


# ---- the child -----------------------------------------------------------------------------
def _on_sigterm(_signum: int, _frame: object) -> None:
    raise JobTerminated


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(70)  # the worker is gone: nobody will record what this job does


def _sendable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, a round-trip check
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _child_main(
    conn: Connection,
    settings: Settings,
    handler: Handler,
    params: dict[str, Any],
    job_id: str,
    parent: int,
) -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the worker, which decides
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    with contextlib.suppress(JobTerminated):
        _run_child(conn, settings, handler, params, job_id)


def _run_child(
    conn: Connection, settings: Settings, handler: Handler, params: dict[str, Any], job_id: str
) -> None:
    from stockdb.app import App
    from stockdb.obs.logging import log_context, setup_logging

    app = App(settings)
    logs = setup_logging(settings, agent="worker", state=app.state)

    def progress(done: int, total: int, message: str) -> None:
        conn.send(("progress", int(done), int(total), str(message)))

    try:
        with log_context(job_id=job_id):
            try:
                result = app.bind(handler)(params, progress, lambda: False)
            except JobTerminated:
                return
            except Exception as exc:
                if not isinstance(exc, StockDBError):
                    log.exception("job crashed in its process")
                conn.send(("error", _sendable(exc)))
                return
            conn.send(("done", dict(result)))
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second request ends it outright
        with contextlib.suppress(Exception):
            app.close()
        with contextlib.suppress(Exception):
            logs.close()
        conn.close()


# ---- the parent ----------------------------------------------------------------------------
def _end(proc: multiprocessing.process.BaseProcess, grace_s: float, wait_s: float = 0.0) -> None:
    """Let the child exit on its own for ``wait_s``, then SIGTERM, then SIGKILL."""
    if wait_s > 0:
        proc.join(wait_s)
    if proc.is_alive():
        proc.terminate()
        proc.join(grace_s)
    if proc.is_alive():
        log.warning("job process ignored SIGTERM; killing it", extra={"pid": proc.pid})
        proc.kill()
    proc.join()


def run_in_child(
    settings: Settings,
    handler: Handler,
    params: Mapping[str, Any],
    progress: ProgressFn,
    should_stop: Callable[[], bool],
    *,
    job_id: str = "",
    on_start: Callable[[int], None] | None = None,
    poll_s: float = 0.1,
    grace_s: float = 5.0,
) -> Mapping[str, Any]:
    """Run ``handler`` (its App parts injected by ``App.bind``) in a new process; its result.

    Re-raises the handler's exception (a TransientError stays retryable). When
    ``should_stop()`` turns true, the child is ended and ``{"terminated": True, ...}`` is
    returned; the caller knows why it stopped. Raises ChildDied if the child vanishes.
    """
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=_child_main,
        args=(sender, settings, handler, dict(params), job_id, os.getpid()),
        name=f"stockdb-job-{job_id[:8]}",
    )
    proc.start()
    sender.close()
    pid = int(proc.pid or 0)
    if on_start is not None:
        on_start(pid)
    try:
        while True:
            message: tuple[Any, ...] | None = None
            try:
                if receiver.poll(poll_s):
                    message = receiver.recv()
            except (EOFError, OSError):  # the child closed its end: ended or died
                proc.join(grace_s)
                raise ChildDied(
                    f"the job's process {pid} ended without a result (exit code {proc.exitcode})"
                ) from None
            if message is not None:
                if message[0] == "progress":
                    progress(message[1], message[2], message[3])
                elif message[0] == "done":
                    return dict(message[1])
                elif message[0] == "error":
                    raise message[1]
            if should_stop():
                _end(proc, grace_s)
                return {"terminated": True, "pid": pid, "exit_code": proc.exitcode}
    finally:
        _end(proc, grace_s, wait_s=grace_s)  # after a result the child is only closing up
        receiver.close()
