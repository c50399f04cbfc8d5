"""The ``wangge`` command: the command groups of :mod:`gis.cli`, and those other packages declare.

A package adds commands by naming a Typer app in the entry point group ``wangge.commands`` (the
service's ``load``, ``export``, ``serve`` and ``users``: ``api.cli:app`` in ``pyproject.toml``), so
that ``gis`` never imports them. This module is the one that loads them: it is the only one of
``gis`` that imports ``api`` (``tests/test_layers.py``).
"""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from gis.cli import check, coverage, rules, simulate, synth
from gis.errors import EXIT_CODES

#: What each exit code says; the error classes that exit with it are those of ``gis.errors.EXIT_CODES``.
MEANINGS = {0: "done, nothing wrong found", 1: "findings: check found errors, a plan is not feasible",
            2: "the input could not be used (a bad option, file, rule set, plan, name or setting)",
            3: "the output could not be written (the target is left as it was)"}


def _epilog() -> str:
    """The exit codes, one paragraph each, with the error classes of each."""
    lines = []
    for code, meaning in MEANINGS.items():
        classes = ", ".join(cls.__name__ for cls, c in EXIT_CODES.items() if c == code)
        lines.append(f"{code} {meaning}" + (f": {classes}" if classes else ""))
    return "Exit codes:\n\n" + "\n\n".join(lines)


app = typer.Typer(help="wangge (网格): check and plan the boundaries of streets, communities and grids.",
                  epilog=_epilog(), no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
for group in (check, synth, rules, coverage):
    app.add_typer(group.app)
for commands in entry_points(group="wangge.commands"):
    app.add_typer(commands.load())
app.add_typer(simulate.app, name="simulate")
