"""The scratch DuckDB database: opened once, a cursor per query from any thread."""

from __future__ import annotations

import threading

from stockdb.duck import ScratchDuckDB


def test_cursors_from_many_threads_share_the_database() -> None:
    duck = ScratchDuckDB(threads=1)
    results: list[int] = []
    lock = threading.Lock()

    def query(k: int) -> None:
        con = duck.cursor()
        try:
            row = con.execute(f"SELECT sum(range) FROM range({k * 1000})").fetchone()
        finally:
            con.close()
        assert row is not None
        with lock:
            results.append(int(row[0]))

    threads = [threading.Thread(target=query, args=(k,)) for k in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == sorted(n * (n - 1) // 2 for n in (k * 1000 for k in range(1, 9)))
    con = duck.cursor()
    try:  # the database's settings hold for every cursor
        assert con.execute("SELECT current_setting('threads')").fetchone() == (1,)
    finally:
        con.close()
    duck.close()
    duck.close()  # idempotent
