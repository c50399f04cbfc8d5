"""What the ``wangge`` commands share: the error exit, stderr, and the options they all take.

Examples
--------
>>> import typer
>>> from typer.testing import CliRunner
>>> from gis.errors import RuleSetError
>>> app = typer.Typer()
>>> @app.command()
... def show(rules: str = RULES):
...     fail(RuleSetError(f"unknown rule set {rules!r}"))
>>> r = CliRunner().invoke(app, ["--rules", "nope"])
>>> r.exit_code, r.stderr
(2, "error: unknown rule set 'nope'\\n")
"""

from __future__ import annotations

from enum import Enum
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from gis.errors import WanggeError, exit_code
from gis.rules import DEFAULT_RULES

#: Messages and progress: stdout is left to the results.
err = Console(stderr=True)


def fail(error: WanggeError) -> NoReturn:
    """Stop the command: ``error: <message>`` on stderr, exit with the code of ``error``.

    Parameters
    ----------
    error
        What stopped the command; its class gives the exit code (:data:`gis.errors.EXIT_CODES`).

    Raises
    ------
    typer.Exit
        Always.
    """
    err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(exit_code(error))


class Format(str, Enum):
    """How a command prints its results on stdout."""

    table = "table"
    json = "json"


CITY = typer.Argument(..., help="City: a GeoPackage in the standard layout, or a mapping file (.toml).")
RULES = typer.Option(DEFAULT_RULES, "--rules", "-r",
                     help="Rule set: national, nanchang-2002, tiemenguan-2018, or a TOML file.")
FORMAT = typer.Option(Format.table, "--format", "-f", help="table (default) or json on stdout.")
