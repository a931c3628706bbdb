"""Regular expressions with a bounded worst-case cost, for the ``matches`` operator.

Python's ``re`` backtracks, so a hostile or careless pattern can take exponential (``(a+)+b``) or
high-polynomial (``a*a*a*b``) time.  There is no timeout in ``re`` and we refuse to rely on one, so
every pattern is checked when the rule is compiled:

* at most 256 characters; no backreferences, conditionals or look-arounds;
* no nested quantifiers and no alternation inside a repeated group (the exponential cases);
* a conservative estimate of the backtracking steps for a subject of length ``n`` — the product of
  the widths of the variable repeats, times ``n`` start positions unless anchored with ``^`` — must
  stay under :data:`STEP_BUDGET`.  That gives each pattern its own maximum subject length
  (:data:`MAX_SUBJECT` at most); a longer subject never matches.  Patterns whose safe length would be
  under :data:`MIN_SAFE_SUBJECT` are refused with advice to anchor or simplify them.

A leading or trailing greedy ``.*`` is dropped first: ``re.search`` gives the same answer without it.
``matches`` uses search semantics (like JavaScript's ``RegExp.test``): anchor with ``^``/``$``.
"""

from __future__ import annotations

import re
import re._constants as sre_constants
import re._parser as sre_parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

MAX_PATTERN: Final = 256
MAX_SUBJECT: Final = 10_000
MIN_SAFE_SUBJECT: Final = 64
STEP_BUDGET: Final = 2_000_000

_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT}
_REFUSED = {
    sre_constants.GROUPREF: "backreferences are not allowed",
    sre_constants.GROUPREF_EXISTS: "conditional groups are not allowed",
    sre_constants.ASSERT: "look-ahead/look-behind assertions are not allowed",
    sre_constants.ASSERT_NOT: "look-ahead/look-behind assertions are not allowed",
}
_ANCHORS = {sre_constants.AT_BEGINNING, sre_constants.AT_BEGINNING_STRING}


class UnsafePattern(ValueError):
    pass


@dataclass(frozen=True)
class SafeRegex:
    regex: re.Pattern[str]
    max_subject: int

    def predicate(self) -> Callable[[Any], bool]:
        search, limit = self.regex.search, self.max_subject

        def matches(actual: Any) -> bool:
            return type(actual) is str and len(actual) <= limit and search(actual) is not None

        return matches


def compile_safe_regex(pattern: str) -> SafeRegex:
    """Compile ``pattern`` or raise :class:`UnsafePattern` saying why it is refused."""
    if len(pattern) > MAX_PATTERN:
        raise UnsafePattern(f"pattern must be at most {MAX_PATTERN} characters")
    try:
        parsed = sre_parse.parse(pattern)
        source = _strip_dot_star(pattern, list(parsed.data))
        if source != pattern:
            parsed = sre_parse.parse(source)
        regex = re.compile(source)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise UnsafePattern(f"invalid regular expression: {exc}") from None
    items = list(parsed.data)
    _check_structure(items, inside_repeat=False)
    anchored = bool(items) and items[0][0] is sre_constants.AT and items[0][1] in _ANCHORS
    anchored = anchored and not parsed.state.flags & re.MULTILINE
    max_subject = _safe_subject_length(items, anchored)
    if max_subject < MIN_SAFE_SUBJECT:
        raise UnsafePattern(
            "pattern is too expensive to evaluate (too many variable-length repeats): "
            "anchor it with ^ or use fewer '*', '+' and '{m,n}'"
        )
    return SafeRegex(regex, max_subject)


def _is_dot_star(item: Any) -> bool:
    op, av = item
    return bool(op is sre_constants.MAX_REPEAT and av[0] == 0 and av[1] == sre_constants.MAXREPEAT) and [
        x[0] for x in av[2].data
    ] == [sre_constants.ANY]


def _strip_dot_star(pattern: str, items: list[Any]) -> str:
    if len(items) > 1 and _is_dot_star(items[0]) and pattern.startswith(".*"):
        pattern, items = pattern[2:], items[1:]
    if len(items) > 1 and _is_dot_star(items[-1]) and pattern.endswith(".*"):
        pattern = pattern[:-2]
    return pattern


def _children(op: Any, av: Any) -> list[list[Any]]:
    if op is sre_constants.SUBPATTERN:
        return [list(av[3].data)]
    if op is sre_constants.ATOMIC_GROUP:
        return [list(av.data)]
    if op is sre_constants.BRANCH:
        return [list(alt.data) for alt in av[1]]
    if op in _REPEATS:
        return [list(av[2].data)]
    return []


def _check_structure(items: list[Any], *, inside_repeat: bool) -> None:
    for op, av in items:
        if op in _REFUSED:
            raise UnsafePattern(_REFUSED[op])
        if inside_repeat and op is sre_constants.BRANCH:
            raise UnsafePattern("alternation inside a repeated group is not allowed (use a character class)")
        if op in _REPEATS:
            low, high = av[0], av[1]
            if inside_repeat and high != low:
                raise UnsafePattern("nested quantifiers are not allowed")
            _check_structure(list(av[2].data), inside_repeat=inside_repeat or high > 1)
            continue
        for child in _children(op, av):
            _check_structure(child, inside_repeat=inside_repeat)


def _cost(items: list[Any], n: int) -> int:
    total = 1
    for op, av in items:
        if op in _REPEATS:
            low, high = av[0], av[1]
            total *= max(1, min(high, n) - low + 1)
        elif op is sre_constants.BRANCH:
            total *= sum(_cost(list(alt.data), n) for alt in av[1])
        else:
            for child in _children(op, av):
                total *= _cost(child, n)
    return total


def _safe_subject_length(items: list[Any], anchored: bool) -> int:
    def steps(n: int) -> int:
        return _cost(items, n) * (1 if anchored else n + 1)

    if steps(MAX_SUBJECT) <= STEP_BUDGET:
        return MAX_SUBJECT
    low, high = 0, MAX_SUBJECT  # steps(low) <= budget < steps(high)
    while high - low > 1:
        mid = (low + high) // 2
        if steps(mid) <= STEP_BUDGET:
            low = mid
        else:
            high = mid
    return low
