"""Run every benchmark: ``python -m bench`` (``make bench``); ``python -m bench lake`` runs one."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    wanted = set(sys.argv[1:])
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if not info.name.startswith("bench_"):
            continue
        if wanted and info.name.removeprefix("bench_") not in wanted:
            continue
        module = importlib.import_module(f"bench.{info.name}")
        print(f"\n=== {info.name} ===", flush=True)
        module.main()


if __name__ == "__main__":
    main()
