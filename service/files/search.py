"""`q`, what people type into a search box -> a `to_tsquery('silo_search', ...)` text.

Every word typed matches the words of a title or description that begin with it, accents and
case aside: `hand` finds "Handbook", `eleve` finds "Élève" (the folding is the `silo_search`
configuration's, migration 0030). Words are letters and digits; anything else separates them.

- `a b`: both; `a or b`: either; `-a`: not a
- `"a b"`, and a word written with punctuation inside (`l'élève`, `e-mail`): in this order,
  next to each other

`tsquery(q)` is None when `q` has no word at all (`*`, `!!`): no filter, like an empty `q`.
Operands are quoted and hold only letters and digits, so no `q` is a tsquery syntax error.
"""

from __future__ import annotations

import re

# A "quoted phrase" (the closing quote may be missing) or a run of anything but spaces and
# quotes; either may start with `-`.
_TOKEN = re.compile(r'(-?)(?:"([^"]*)"?|([^\s"]+))')
_WORD = re.compile(r"[^\W_]+")


def tsquery(q: str) -> str | None:
    """The tsquery text for `q` (see the module's docstring), or None without a word."""
    operands: list[tuple[str, bool]] = []  # (operand, whether `or` came before it)
    pending_or = False
    for negated, phrase, term in _TOKEN.findall(q):
        text = term or phrase
        if not negated and not phrase and text.lower() == "or" and operands:
            pending_or = True  # an operator between two operands; a word if none follows
            continue
        words = _WORD.findall(text)
        if not words:
            continue
        operand = " <-> ".join(f"'{word}':*" for word in words)
        if len(words) > 1:
            operand = f"({operand})"
        operands.append(("!" + operand if negated else operand, pending_or))
        pending_or = False
    if pending_or:  # a trailing `or` is a word typed, perhaps the start of "orange"
        operands.append(("'or':*", False))
    if not operands:
        return None
    out = operands[0][0]
    for operand, after_or in operands[1:]:
        out += (" | " if after_or else " & ") + operand
    return out
