"""Server-side text rewritten for clients: paths relative to known roots, library frames hidden."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import stockdb
from stockdb.obs.redact import Redactor

PACKAGE = Path(stockdb.__file__).parent


@pytest.fixture
def redactor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Redactor:
    (tmp_path / "work").mkdir()
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return Redactor(tmp_path / "data")


def test_paths_under_known_roots(redactor: Redactor, tmp_path: Path) -> None:
    data = tmp_path / "data" / "parquet" / "SPY" / "dt=2024-03-04" / "bars.parquet"
    assert redactor.path(str(data)) == "$STOCKDB_DATA_DIR/parquet/SPY/dt=2024-03-04/bars.parquet"
    assert redactor.path(str(tmp_path / "data")) == "$STOCKDB_DATA_DIR"
    assert redactor.path(str(PACKAGE / "lake" / "atomic.py")) == "stockdb/lake/atomic.py"
    assert redactor.path(str(tmp_path / "work" / "actions.csv")) == "actions.csv"
    assert redactor.path(str(tmp_path / "home" / "keys.txt")) == "~/keys.txt"


def test_other_absolute_paths_keep_their_last_two_parts(redactor: Redactor) -> None:
    lib = f"{sys.prefix}/lib/python3.11/site-packages/pyarrow/parquet/core.py"
    assert redactor.path(lib) == ".../parquet/core.py"
    assert redactor.path("/usr/lib/x.so") == ".../lib/x.so"
    assert redactor.path("/tmp") == ".../tmp"


@pytest.mark.parametrize(
    "text",
    [
        "POST /ingest/SPY failed",
        "see http://localhost:8000/bars/SPY?limit=5",
        "ratio 1/10 and 4/1",
        "GET /agents/live/stop",
    ],
)
def test_url_paths_and_fractions_are_left_alone(redactor: Redactor, text: str) -> None:
    assert redactor.text(text) == text


def test_a_message_with_a_path(redactor: Redactor, tmp_path: Path) -> None:
    message = f"[Errno 28] No space left on device: '{tmp_path}/data/state/stockdb.sqlite'"
    assert redactor.text(message) == (
        "[Errno 28] No space left on device: '$STOCKDB_DATA_DIR/state/stockdb.sqlite'"
    )


def _real_traceback() -> str:
    """A traceback through this test (not stockdb) into pathlib (a library)."""
    try:
        Path("/proc/definitely/not/here").mkdir()
    except OSError:
        return traceback.format_exc()
    raise AssertionError("mkdir should have failed")


def test_library_frames_are_hidden(redactor: Redactor) -> None:
    original = _real_traceback()
    assert "pathlib.py" in original
    served = redactor.text(original)
    assert served.splitlines()[0] == "Traceback (most recent call last):"
    assert "pathlib.py" not in served and "test_redact.py" not in served
    assert "library frames hidden]" in served
    assert served.splitlines()[-1].endswith("'.../not/here'")


def test_stockdb_frames_stay_with_package_paths(redactor: Redactor) -> None:
    inner = PACKAGE / "lake" / "atomic.py"
    lib = f"{sys.prefix}/lib/python3.11/pathlib.py"
    original = "\n".join(
        [
            "Traceback (most recent call last):",
            f'  File "{inner}", line 78, in write_temp_parquet',
            "    folder.mkdir()",
            f'  File "{lib}", line 1116, in mkdir',
            "    os.mkdir(self, mode)",
            "    ^^^^^^^^^^^^^^^^^^^^",
            f'  File "{lib}", line 1120, in mkdir',
            "    raise",
            "NotADirectoryError: [Errno 20] Not a directory: '/srv/x/y/z'",
        ]
    )
    assert redactor.text(original).splitlines() == [
        "Traceback (most recent call last):",
        '  File "stockdb/lake/atomic.py", line 78, in write_temp_parquet',
        "    folder.mkdir()",
        "  [2 library frames hidden]",
        "NotADirectoryError: [Errno 20] Not a directory: '.../y/z'",
    ]


def test_values_are_rewritten_at_any_depth(redactor: Redactor, tmp_path: Path) -> None:
    value = {"error": f"{tmp_path}/data/x", "n": 3, "list": [f"{tmp_path}/data/y", None]}
    assert redactor.value(value) == {
        "error": "$STOCKDB_DATA_DIR/x",
        "n": 3,
        "list": ["$STOCKDB_DATA_DIR/y", None],
    }


@given(st.text(alphabet="/abc.-_ :'\"~$\n", max_size=60))
def test_redacting_twice_changes_nothing_more(text: str) -> None:
    redactor = Redactor(Path("/data"))
    once = redactor.text(text)
    assert redactor.text(once) == once
