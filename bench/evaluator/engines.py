"""The engines crmflow is compared with, each as ``condition -> (data -> result)``.

Results are the engines' own (rule-engine raises on type mismatches): the benchmark maps errors
to False, the edge-case probes report them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import rule_engine
import zen

from bench.evaluator import naive, translate

Condition = dict[str, Any] | None
Compiler = Callable[[Condition], Callable[[Any], Any]]

NAIVE: Final = "naive interpreter"
ZEN: Final = "zen-engine compiled"
RULE_ENGINE: Final = "rule-engine"
_CONTEXT: Final = rule_engine.Context(default_value=None)  # a missing attribute is null, not an error


def _naive(condition: Condition) -> Callable[[Any], bool]:
    return lambda data: naive.evaluate(condition, data)


def _zen(condition: Condition) -> Callable[[Any], Any]:
    return zen.compile_expression(translate.to_zen(condition)).evaluate


def _rule_engine(condition: Condition) -> Callable[[Any], Any]:
    return rule_engine.Rule(translate.to_rule_engine(condition), context=_CONTEXT).matches


COMPILERS: Final[dict[str, Compiler]] = {NAIVE: _naive, ZEN: _zen, RULE_ENGINE: _rule_engine}
