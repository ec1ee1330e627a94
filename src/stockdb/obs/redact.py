"""What clients may see of server-side text: no absolute paths, no library tracebacks.

``/logs``, job errors and API error details go to whoever can reach the API; the full text
stays in the server's own log (stderr). :class:`Redactor` rewrites a text for clients:

- a path inside the data dir becomes ``$STOCKDB_DATA_DIR/...``, inside the stockdb package
  ``stockdb/...``, inside the working directory relative to it, inside the home ``~/...``;
- any other absolute path (one starting at a top-level folder of this machine or a usual one
  such as ``/usr`` or ``/home``) keeps only its last two parts: ``.../site-packages/x.py``;
- in a traceback, frames outside the stockdb package (the standard library, site-packages)
  are replaced by one ``[N library frames hidden]`` line; stockdb frames stay, with
  package-relative paths, so a bug report still says where it happened.

URL paths such as ``/bars/SPY`` are left alone: their first part is not a folder of ``/``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import stockdb

__all__ = ["DATA_DIR_LABEL", "Redactor"]

DATA_DIR_LABEL = "$STOCKDB_DATA_DIR"
_USUAL_ROOTS = frozenset(
    {
        "app", "bin", "data", "etc", "home", "lib", "lib64", "mnt", "nix", "opt", "private",
        "proc", "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var", "work", "workspace",
        "Users", "Volumes",
    }
)  # fmt: skip
_PATH = re.compile(r"(?<![\w.~/:$-])/[^\s'\"(),;:<>\[\]{}|*?`]+")
_FRAME = re.compile(r'^(\s*)File "([^"]+)", line (\d+)(.*)$')


def _top_level() -> frozenset[str]:
    try:
        return _USUAL_ROOTS | frozenset(p.name for p in Path("/").iterdir())
    except OSError:
        return _USUAL_ROOTS


def _prefixes(path: Path | None) -> tuple[str, ...]:
    """``path`` as given and resolved, each with a trailing slash, longest first."""
    if path is None:
        return ()
    forms = {str(path.absolute()), str(path.resolve())}
    return tuple(sorted((f.rstrip("/") + "/" for f in forms if f != "/"), key=len, reverse=True))


class Redactor:
    """Rewrites server-side text for clients (see the module docstring). Pure after
    construction, which reads the working directory, the home folder and the names in ``/``."""

    def __init__(self, data_dir: Path | None = None) -> None:
        package = Path(stockdb.__file__).parent
        home = Path.home() if "HOME" in os.environ else None
        cwd = Path.cwd()
        self._roots: list[tuple[str, str]] = []
        for base, label in (
            (data_dir, DATA_DIR_LABEL + "/"),
            (package, "stockdb/"),
            (None if cwd == Path("/") else cwd, ""),
            (home, "~/"),
        ):
            self._roots.extend((prefix, label) for prefix in _prefixes(base))
        self._package = tuple(p for p in _prefixes(package))
        self._top = _top_level()

    def path(self, text: str) -> str:
        """One absolute path as a client may see it (unchanged when not a filesystem path)."""
        for prefix, label in self._roots:
            if text.startswith(prefix):
                return label + text[len(prefix) :] or "."
            if text == prefix.rstrip("/"):
                return label.rstrip("/") or "."
        parts = [p for p in text.split("/") if p]
        if not parts or parts[0] not in self._top:
            return text
        return ".../" + "/".join(parts[-2:])

    def _paths(self, line: str) -> str:
        return _PATH.sub(lambda m: self.path(m.group(0)), line)

    def text(self, text: str) -> str:
        """``text`` with paths rewritten and library traceback frames hidden."""
        if "/" not in text:
            return text
        if 'File "' not in text:
            return self._paths(text)
        out: list[str] = []
        hidden = 0
        dropping = False
        indent = ""
        for line in text.split("\n"):
            frame = _FRAME.match(line)
            if frame is not None:
                indent, where, number, rest = frame.groups()
                ours = next((p for p in self._package if where.startswith(p)), None)
                if ours is None:
                    hidden, dropping = hidden + 1, True
                    continue
                if hidden:
                    out.append(f"{indent}[{hidden} library frames hidden]")
                hidden, dropping = 0, False
                out.append(f'{indent}File "stockdb/{where[len(ours) :]}", line {number}{rest}')
                continue
            if dropping and line.startswith(indent + "  ") and line.strip():
                continue  # the source line (and ^^^ markers) of a hidden frame
            if hidden:
                out.append(f"{indent}[{hidden} library frames hidden]")
            hidden, dropping = 0, False
            out.append(self._paths(line))
        if hidden:
            out.append(f"{indent}[{hidden} library frames hidden]")
        return "\n".join(out)

    def value(self, value: Any) -> Any:
        """``value`` with every string inside it (at any depth) rewritten by :meth:`text`."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value
