"""What the API serves of a crash: job errors and /logs name files relative to the data dir
and keep stockdb frames only, while the server's own log keeps every path and frame."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

from stockdb.app import App
from stockdb.obs.logging import setup_logging

ABSOLUTE = re.compile(r"(?<![\w.~/:$-])/(tmp|root|home|usr|work|var|opt|data|lib)\b")


def test_a_crashed_job_is_served_without_absolute_paths(
    app: App, make_client: Callable[..., Any]
) -> None:
    data_dir = app.settings.data_dir
    app.settings.parquet_dir.mkdir(parents=True)
    (app.settings.parquet_dir / "SPY").write_text("a file where the symbol folder goes")
    server_log = io.StringIO()
    handle = setup_logging(app.settings, agent="api", state=app.state, stream=server_log)
    try:
        client = make_client()
        posted = client.post("/ingest/SPY?start=2024-03-04&end=2024-03-05")
        assert posted.status_code == 202
        job_id = posted.json()["id"]
        app.jobs.execute(job_id)
        handle.flush()

        job = client.get(f"/jobs/{job_id}").json()
        listed = client.get("/jobs").json()
        logs = client.get("/logs", params={"level": "ERROR"}).json()
    finally:
        handle.close()

    assert job["status"] == "failed"
    assert job["error"] == (
        "internal error (NotADirectoryError): [Errno 20] Not a directory: "
        "'$STOCKDB_DATA_DIR/parquet/SPY/dt=2024-03-04'"
    )
    assert listed[0]["error"] == job["error"]
    crashed = next(r for r in logs if r["message"] == "job crashed")
    trace = crashed["extra"]["exception"]
    assert 'File "stockdb/lake/atomic.py", line' in trace
    assert 'File "stockdb/jobs/executor.py", line' in trace
    assert "[1 library frames hidden]" in trace  # pathlib's mkdir
    failed = next(r for r in logs if r["message"] == "job failed")
    assert failed["extra"]["error"] == job["error"]
    for text in (str(job), str(listed), str(logs)):
        assert str(data_dir) not in text
        assert not ABSOLUTE.search(text), ABSOLUTE.search(text)
        assert "pathlib.py" not in text and "site-packages" not in text

    full = server_log.getvalue()  # the server's own log keeps everything
    assert str(data_dir / "parquet" / "SPY" / "dt=2024-03-04") in full
    assert "pathlib.py" in full
