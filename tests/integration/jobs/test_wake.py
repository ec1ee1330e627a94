"""Cross-process wake-ups on the SQLite queue: a job submitted by another process starts at
once on an idle consumer, without waiting for its poll; dead listeners are cleaned up."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from stockdb.app import App
from stockdb.jobs.runtime import Runtime
from stockdb.jobs.wake import WakeChannel

from .conftest import FAST, wait_for

SUBMIT_NOOP = (
    "from stockdb.app import App\n"
    "from stockdb.jobs.service import JobService\n"
    "print(JobService(App()).submit('noop', 'noop:from-afar', {'echo': 'hi'}).id)\n"
)


def test_a_job_from_another_process_wakes_an_idle_consumer(
    app: App, runtimes: Callable[..., Runtime]
) -> None:
    # The consumer polls once an hour: only the wake-up can start the job within the test.
    hour = dataclasses.replace(FAST, poll_max_s=3600.0)
    runtime = runtimes(workers=2, agents=(), options=hour)
    workers = [w for w, _ in runtime.consumer.worker_threads]
    for worker in workers:
        worker.delay = 3600.0  # as after a long idle spell: the next sleep lasts an hour
    wake_dir = app.settings.state_dir / "queue.sqlite.wake"
    listening = sorted(p.name.split(".")[:2] for p in wake_dir.iterdir())
    assert listening == [["cpu", str(os.getpid())], ["io", str(os.getpid())]]
    done = subprocess.run(
        [sys.executable, "-c", SUBMIT_NOOP], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    finished = wait_for(
        lambda: (j := runtime.jobs.get(job_id)).status == "succeeded" and j, 60, "the noop job"
    )
    assert finished.result == {"ok": True, "echo": "hi"}
    # every idle thread woken, not timed out
    wait_for(lambda: all(w.delay < 3600.0 for w in workers), 30, "every idle worker to wake")
    runtime.stop(timeout_s=30)  # stopping wakes every sleeping thread
    assert not [t for _, t in runtime.consumer.worker_threads if t.is_alive()]


LISTEN_THEN_WAIT = (
    "import sys, threading, time\n"
    "from pathlib import Path\n"
    "from stockdb.jobs.wake import WakeChannel\n"
    "listener = WakeChannel(Path(sys.argv[1])).listen('io', threading.Event())\n"
    "print(listener.path.name, flush=True)\n"
    "sys.stdin.read()\n"
)


def test_notify_reaches_live_listeners_and_removes_dead_ones(tmp_path: Path) -> None:
    folder = tmp_path / "queue.sqlite.wake"
    woken = threading.Event()
    here = WakeChannel(folder)
    listener = here.listen("io", woken)
    assert listener is not None
    try:
        with subprocess.Popen(
            [sys.executable, "-c", LISTEN_THEN_WAIT, str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ) as other:
            assert other.stdout is not None
            dead_name = other.stdout.readline().strip()
            assert (folder / dead_name).exists()
            os.kill(other.pid, signal.SIGKILL)  # dies without removing its FIFO
            other.wait(30)
        assert (folder / dead_name).exists()

        sender = WakeChannel(folder)  # another process's view of the same folder
        assert sender.notify("cpu") == 0 and not woken.is_set()  # other lane: nobody
        assert sender.notify("io") == 1  # the live listener only
        assert woken.wait(30)
        assert not (folder / dead_name).exists()  # the dead one was removed
        assert here.notify("io") == 0  # a process does not wake itself through the FIFO
    finally:
        listener.close()
    assert list(folder.iterdir()) == []
