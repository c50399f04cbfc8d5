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


class EditError(WanggeError):
    """An edit of a city's units that cannot be made (``gis.edit``): a drawn area outside the unit's
    parent, one that takes nothing or would empty a unit, an estate that is not where it is named."""


#: Exit code of the CLI for each error class; a class not listed takes its nearest listed base's
#: (:class:`gis.simulate.PlanError`, the store's and the service's errors are input: 2). 0 (done,
#: nothing wrong) and 1 (findings: check found errors, a plan is not feasible) are set by the
#: commands themselves; click's usage errors (a bad option) exit 2 as well.
EXIT_CODES: dict[type[WanggeError], int] = {
    WanggeError: 2,  # input that cannot be used: settings, names, a refused change
    InputError: 2,  # a city, mapping or plan that cannot be read
    RuleSetError: 2,  # a rule set that is missing or malformed
    OutputError: 3,  # a result that could not be written (the target is left as it was)
}


def exit_code(error: WanggeError) -> int:
    """The CLI exit code of ``error``: that of the most specific class of it in :data:`EXIT_CODES`.

    Parameters
    ----------
    error
        The error a command stopped with.

    Returns
    -------
    int
        2 for input that cannot be used, 3 for output that could not be written.

    Examples
    --------
    >>> exit_code(RuleSetError("unknown rule set 'nope'")), exit_code(OutputError("folder does not exist"))
    (2, 3)
    """
    return next(EXIT_CODES[cls] for cls in type(error).__mro__ if cls in EXIT_CODES)
