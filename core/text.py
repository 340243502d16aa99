"""Text from a scenario or a data file, made safe to print on a terminal.

A shared lesson file is someone else's text: an escape sequence in its title could set the
window title, recolour the terminal or ring the bell when ``nnsim show`` prints it. Every
string a scenario shows passes through ``plain`` where it is read, so no output path can
forget it; newlines and tabs stay (the lesson text has paragraphs).
"""

from __future__ import annotations

import re

# A CSI (ESC [ or its one-byte form, parameters, a final byte); ESC with an OSC (ESC ] ... BEL
# or ESC \) or a two-byte sequence; then any other C0 control but tab and newline, DEL, and
# the C1 controls.
_CONTROL = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
                      r"|\x1b(?:\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_])?"
                      r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: str) -> str:
    """``text`` without escape sequences and control characters."""
    return _CONTROL.sub("", text)


def one_line(text: str) -> str:
    """``plain(text)`` for an error line: a newline in a quoted value shows as ``\\n``."""
    return plain(text).replace("\n", "\\n")
