"""Universes for every entry point: named symbol lists behind ``--universe NAME``.

:class:`UniverseService` validates names and symbols (every bad one named in one line,
nothing written on a bad request), reads symbol files, builds a universe from Alpaca's
assets list, and resolves ``symbols`` + ``universe`` into the symbol list a command runs on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stockdb.errors import ConfigError, InvalidInput, StorageError
from stockdb.state.universes import Universe, UniverseRepo
from stockdb.usecases.bars import split_symbols, validate_symbols

if TYPE_CHECKING:
    from stockdb.app import App
    from stockdb.providers.alpaca_assets import AssetList

__all__ = ["NAME_PATTERN", "UniverseService", "read_symbol_file", "validate_name"]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_MAX_FILE_BYTES = 1_000_000


def validate_name(raw: str) -> str:
    """A universe name: 1-64 ASCII letters, digits, dots, dashes or underscores, starting
    with a letter or digit. Raises InvalidInput."""
    name = raw.strip()
    if not NAME_PATTERN.fullmatch(name):
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise InvalidInput(
            f"invalid universe name {shown!r}: use 1-64 ASCII letters, digits, dots, dashes "
            "or underscores, starting with a letter or digit"
        )
    return name


def read_symbol_file(path: Path) -> list[str]:
    """Symbols from a text file: separated by commas, blanks or newlines; ``#`` starts a
    comment. Raises InvalidInput (every bad symbol named) or StorageError (unreadable)."""
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise InvalidInput(f"{path} is larger than 1 MB: not a symbol list")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidInput(f"no such file: {path}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8 text") from exc
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}") from exc
    items: list[str] = []
    for line in text.splitlines():
        items.extend(line.split("#", 1)[0].replace(",", " ").split())
    if not items:
        raise InvalidInput(f"{path} lists no symbols")
    return validate_symbols(items)


class UniverseService:
    """Create, change, list and resolve universes over one App's state store."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.repo = UniverseRepo(app.state)

    def create(
        self,
        name: str,
        symbols: Sequence[str] | None = None,
        file: Path | None = None,
        from_alpaca: bool = False,
        replace: bool = False,
    ) -> Universe:
        """Store universe ``name`` from exactly one source: ``symbols``, a ``file``, or
        Alpaca's active tradable US equities. Raises InvalidInput, Conflict (exists and not
        ``replace``), ConfigError/AuthError/Upstream* for Alpaca."""
        chosen = validate_name(name)
        given = [bool(symbols), file is not None, from_alpaca]
        if sum(given) != 1:
            raise InvalidInput("give the symbols, --file FILE or --from-alpaca (exactly one)")
        if symbols:
            names, source = validate_symbols(symbols), "manual"
        elif file is not None:
            names, source = read_symbol_file(file), "file"
        else:
            assets = self.fetch_alpaca()
            if not assets.symbols:
                raise InvalidInput("Alpaca listed no active, tradable US equities")
            names, source = list(assets.symbols), "alpaca"
        return self.repo.create(chosen, names, source, self.app.clock.now(), replace)

    def fetch_alpaca(self) -> AssetList:
        """Alpaca's active, tradable US equities (see :mod:`stockdb.providers.alpaca_assets`)."""
        from stockdb.providers.alpaca_assets import fetch_tradable_equities

        problem = self.app.settings.placeholder_key_problem()
        if problem:
            raise ConfigError(problem)
        return fetch_tradable_equities(self.app.settings, self.app.http_client)

    def get(self, name: str) -> Universe:
        """The universe ``name``; NotFound / InvalidInput."""
        return self.repo.get(validate_name(name))

    def all(self) -> list[Universe]:
        return self.repo.all()

    def add(self, name: str, symbols: Sequence[str]) -> Universe:
        """Append symbols (already-present ones are ignored)."""
        chosen = validate_name(name)
        return self.repo.add(chosen, validate_symbols(symbols), self.app.clock.now())

    def remove(self, name: str, symbols: Sequence[str]) -> Universe:
        """Drop symbols; InvalidInput naming those that are not members."""
        chosen = validate_name(name)
        return self.repo.remove(chosen, validate_symbols(symbols), self.app.clock.now())

    def delete(self, name: str) -> None:
        """Forget the universe; the symbols' bars and features stay."""
        self.repo.delete(validate_name(name))

    def resolve(self, symbols: str | Sequence[str] | None, universe: str | None) -> list[str]:
        """The symbols a command runs on: the universe's members (in order) followed by any
        ``symbols`` given too, duplicates dropped. InvalidInput when neither is given or a
        universe is empty; NotFound for an unknown universe."""
        raw = split_symbols(symbols) if symbols else []
        if universe is None:
            return validate_symbols(raw)
        members = list(self.get(universe).symbols)
        if not members and not raw:
            raise InvalidInput(f"universe {universe.strip()!r} has no symbols")
        return validate_symbols(members + raw)
