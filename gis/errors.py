"""Domain errors shared by the CLI (exit code + message) and, later, the API (HTTP code + message).

Each error names where the problem is (file, layer, feature) and what it is, so a user can fix
their data without reading a traceback.

Examples
--------
>>> str(InputError("no CRS and none given in the mapping", file="a.shp", layer="a"))
'a.shp, layer a: no CRS and none given in the mapping'
"""

from __future__ import annotations


class WanggeError(Exception):
    """Base of every error wangge reports to a user."""


class InputError(WanggeError):
    """Input that cannot be read as a city: missing file, layer or column, bad geometry, bad encoding."""

    def __init__(self, problem: str, *, file=None, layer=None, feature=None):
        self.problem, self.file, self.layer, self.feature = problem, file, layer, feature
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = [str(self.file)] if self.file else []
        if self.layer:
            where.append(f"layer {self.layer}")
        if self.feature is not None:
            where.append(f"feature {self.feature}")
        return (", ".join(where) + ": " if where else "") + self.problem


class OutputError(InputError):
    """A result that could not be written (the target is left as it was)."""


class RuleSetError(InputError):
    """A rule set file that is missing or malformed."""


#: Exit code of the CLI for each error class (0 clean and 1 findings are set by ``check`` itself).
EXIT_CODES: dict[type[WanggeError], int] = {InputError: 2, OutputError: 2, RuleSetError: 2, WanggeError: 2}


def exit_code(error: WanggeError) -> int:
    """The CLI exit code of ``error`` (most specific class wins)."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 2
