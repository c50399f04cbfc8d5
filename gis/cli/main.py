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

app = typer.Typer(help="wangge (网格): check and plan the boundaries of streets, communities and grids.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
for group in (check, synth, rules, coverage):
    app.add_typer(group.app)
for commands in entry_points(group="wangge.commands"):
    app.add_typer(commands.load())
app.add_typer(simulate.app, name="simulate")
