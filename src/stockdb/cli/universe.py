"""``stockdb universe``: named symbol lists that ``--universe NAME`` stands for."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stockdb.cli.common import make_app, out_console
from stockdb.cli.render import print_records

if TYPE_CHECKING:
    from stockdb.state.universes import Universe
    from stockdb.usecases.universe import UniverseService

__all__ = ["register", "universe_app"]

universe_app = typer.Typer(
    help="Named symbol lists: create, list, show, add, remove, delete. Use them with "
    "--universe NAME on ingest, track, features build and bars.",
    no_args_is_help=True,
)
_Name = Annotated[str, typer.Argument(help="Universe name, e.g. tech or us-equities")]
_Symbols = Annotated[list[str], typer.Argument(help="Symbols, e.g. AAPL MSFT or AAPL,MSFT")]


def _service(ctx: typer.Context) -> UniverseService:
    from stockdb.usecases.universe import UniverseService

    return UniverseService(make_app(ctx))


def _summary(verb: str, universe: Universe) -> None:
    count = len(universe.symbols)
    out_console().print(
        f"{verb} universe {universe.name}: {count} symbol{'' if count == 1 else 's'} "
        f"(source {universe.source})",
        highlight=False,
    )


@universe_app.command("create")
def create(
    ctx: typer.Context,
    name: _Name,
    symbols: Annotated[
        list[str] | None, typer.Argument(help="Symbols, e.g. AAPL MSFT or AAPL,MSFT")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Text file of symbols (commas, blanks or lines; # comments)"),
    ] = None,
    from_alpaca: Annotated[
        bool,
        typer.Option(
            "--from-alpaca",
            help="Every active, tradable US equity Alpaca lists (ALPACA_TRADING_BASE_URL, "
            "the paper endpoint by default)",
        ),
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite a universe of that name")
    ] = False,
) -> None:
    """Create universe NAME from SYMBOLS, --file FILE or --from-alpaca (exactly one).

    Example: stockdb universe create tech AAPL MSFT NVDA
    Example: stockdb universe create us-equities --from-alpaca
    """
    _summary("created", _service(ctx).create(name, symbols, file, from_alpaca, replace))


@universe_app.command("list")
def list_universes(ctx: typer.Context) -> None:
    """Every universe with its size and source.

    Example: stockdb universe list
    """
    rows = [
        {
            "name": u.name,
            "symbols": len(u.symbols),
            "first": " ".join(u.symbols[:5]) + (" ..." if len(u.symbols) > 5 else ""),
            "source": u.source,
            "updated_at": u.updated_at.isoformat(timespec="seconds"),
        }
        for u in _service(ctx).all()
    ]
    print_records(rows, "universes")


@universe_app.command("show")
def show(ctx: typer.Context, name: _Name) -> None:
    """The symbols of universe NAME, one per line (pipe them anywhere).

    Example: stockdb universe show tech
    """
    universe = _service(ctx).get(name)
    out_console().print("\n".join(universe.symbols), highlight=False)


@universe_app.command("add")
def add(ctx: typer.Context, name: _Name, symbols: _Symbols) -> None:
    """Append SYMBOLS to universe NAME (members already there are left as they are).

    Example: stockdb universe add tech AMD INTC
    """
    _summary("updated", _service(ctx).add(name, symbols))


@universe_app.command("remove")
def remove(ctx: typer.Context, name: _Name, symbols: _Symbols) -> None:
    """Remove SYMBOLS from universe NAME (their stored data stays).

    Example: stockdb universe remove tech INTC
    """
    _summary("updated", _service(ctx).remove(name, symbols))


@universe_app.command("delete")
def delete(ctx: typer.Context, name: _Name) -> None:
    """Forget universe NAME (its symbols' bars and features stay).

    Example: stockdb universe delete tech
    """
    _service(ctx).delete(name)
    out_console().print(f"deleted universe {name.strip()}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``universe`` to the root ``stockdb`` command."""
    if any(group.name == "universe" for group in app.registered_groups):
        return
    app.add_typer(universe_app, name="universe")
