"""Conditions staff write in branches, e.g. ``sleep_quality <= 3 and pain_woke == "yes"``.

Parsed once at load with Python's ``ast`` and a strict whitelist, so a flow file
can never run code; evaluated against the session's answers, the participant's
fields and the history of earlier answers.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Scalar = str | int | float | bool | None

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_OPS_BY_TEXT = {
    "==": ast.Eq,
    "!=": ast.NotEq,
    "<": ast.Lt,
    "<=": ast.LtE,
    ">": ast.Gt,
    ">=": ast.GtE,
}
RECENT_FUNCTIONS = ("min_recent", "max_recent", "count_recent", "answered")
MAX_RECENT = 10  # how many earlier check-ins a condition may look back over


class ConditionSyntaxError(ValueError):
    """A condition staff wrote that we cannot read; the message says how to fix it."""


@dataclass(frozen=True)
class Scope:
    """What a condition can read.

    ``answers`` are this check-in's answers so far, ``fields`` the participant's
    fields, and ``history`` the answers of *earlier* check-ins, oldest first (the
    host must leave out the session being run, or its answers would count twice:
    ``recent`` adds this session's answer itself).
    """

    answers: Mapping[str, Scalar]
    fields: Mapping[str, Scalar]
    history: Mapping[str, Sequence[Scalar]]

    def lookup(self, name: str) -> Scalar:
        if name in self.answers:
            return self.answers[name]
        return self.fields.get(name)

    def recent(self, name: str, n: int) -> list[Scalar]:
        values = list(self.history.get(name, ()))
        if name in self.answers:
            values.append(self.answers[name])
        return values[-n:] if n > 0 else []


@dataclass(frozen=True)
class Condition:
    source: str
    tree: ast.expr = field(compare=False)  # parsed from source: equal sources, equal conditions

    def names(self) -> set[str]:
        """Every answer or field name the condition reads."""
        found: set[str] = set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Name) and node.id not in RECENT_FUNCTIONS:
                found.add(node.id)
        return found

    def history_names(self) -> set[str]:
        """The answer names whose earlier values min/max/count_recent read."""
        return {
            node.args[0].id
            for node in ast.walk(self.tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id != "answered"
            and node.args
            and isinstance(node.args[0], ast.Name)
        }

    def evaluate(self, scope: Scope) -> bool:
        try:
            return bool(_eval(self.tree, scope))
        except (TypeError, ValueError, OverflowError, RecursionError):
            return False  # comparing a missing answer (None) with a number is simply false


def parse_condition(source: str) -> Condition:
    text = str(source).strip()
    if not text:
        raise ConditionSyntaxError("the condition is empty")
    try:
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError):
        raise ConditionSyntaxError(f"cannot read the condition {text!r}{_hint(text)}") from None
    except (RecursionError, MemoryError):
        raise ConditionSyntaxError(f"the condition {text[:40]!r}... is too complicated") from None
    try:
        _check(tree, text)
    except RecursionError:
        raise ConditionSyntaxError(f"the condition {text[:40]!r}... is too complicated") from None
    return Condition(text, tree)


def _hint(text: str) -> str:
    """A likely fix for a condition Python cannot read."""
    if "=>" in text or "=<" in text:
        return " (write >= and <=, with the = second)"
    if re.search(r"(?<![=!<>])=(?!=)", text):
        return " (use == to compare, not =)"
    if any(q in text for q in "\u201c\u201d\u2018\u2019"):
        return " (use straight quotes \" or ' around words, not curly ones)"
    if re.search(r"\b(AND|OR|NOT|And|Or|Not)\b", text):
        return " (write and, or, not in small letters)"
    return ""


_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.BoolOp, ast.UnaryOp, ast.Compare, ast.Name, ast.Constant, ast.List, ast.Tuple,
    ast.boolop, ast.unaryop, ast.expr_context, *_COMPARE,
)  # fmt: skip
# How each history function is written, and how many values it takes.
_SIGNATURES = {
    "answered": ("answered(name)", 1),
    "min_recent": ("min_recent(name, 3)", 2),
    "max_recent": ("max_recent(name, 3)", 2),
    "count_recent": ('count_recent(name, 3, "<=", 3)', 4),
}


def _check(node: ast.AST, text: str) -> None:
    if isinstance(node, ast.Call):
        _check_call(node, text)
        return
    if isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.Not | ast.USub):
        raise ConditionSyntaxError(f"in {text!r}: only 'not' and '-' are allowed before a value")
    if isinstance(node, ast.Is | ast.IsNot):
        raise ConditionSyntaxError(f"in {text!r}: use == and != to compare, not 'is'")
    if not isinstance(node, _ALLOWED_NODES) or (
        isinstance(node, ast.Constant) and not isinstance(node.value, str | int | float | None)
    ):
        raise ConditionSyntaxError(
            f"in {text!r}: only names, numbers, quoted words, comparisons, and/or/not are allowed"
        )
    for child in ast.iter_child_nodes(node):
        _check(child, text)


def _plain_value(node: ast.expr) -> tuple[bool, Scalar]:
    """(ok, value) for a number, a quoted word, or a negative number."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float | bool):
        return True, node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, int | float)
        and not isinstance(node.operand.value, bool)
    ):
        return True, -node.operand.value
    return False, None


def _check_call(node: ast.Call, text: str) -> None:
    """Only the history functions, each with the arguments it needs, known at load."""
    if not isinstance(node.func, ast.Name) or node.func.id not in RECENT_FUNCTIONS:
        raise ConditionSyntaxError(
            f"in {text!r}: only these functions can be used: {', '.join(RECENT_FUNCTIONS)}"
        )
    func = node.func.id
    usage, wanted = _SIGNATURES[func]
    if node.keywords or len(node.args) != wanted or not isinstance(node.args[0], ast.Name):
        raise ConditionSyntaxError(f"in {text!r}: write {func} like {usage}")
    values = [_plain_value(arg) for arg in node.args[1:]]
    if not all(ok for ok, _ in values):
        raise ConditionSyntaxError(f"in {text!r}: {func} takes plain values, like {usage}")
    if wanted > 1:
        count = values[0][1]
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_RECENT:
            raise ConditionSyntaxError(
                f"in {text!r}: the number of check-ins to look back over must be "
                f"a whole number from 1 to {MAX_RECENT}"
            )
    if func == "count_recent" and values[1][1] not in _OPS_BY_TEXT:
        raise ConditionSyntaxError(
            f"in {text!r}: the comparison in count_recent must be one of "
            + ", ".join(f'"{op}"' for op in _OPS_BY_TEXT)
        )


def _recent_call(node: ast.Call, scope: Scope) -> Scalar:
    """Checked at load by ``_check_call``."""
    assert isinstance(node.func, ast.Name) and isinstance(node.args[0], ast.Name)
    name, func = node.args[0].id, node.func.id
    if func == "answered":
        return scope.answers.get(name) is not None
    consts = [_plain_value(arg)[1] for arg in node.args[1:]]
    n = int(consts[0] or 0)
    recent = [v for v in scope.recent(name, n) if v is not None]
    if func == "count_recent":
        compare = _COMPARE[_OPS_BY_TEXT[str(consts[1])]]
        return sum(1 for v in recent if _safe_compare(compare, v, consts[2]))
    numbers = [v for v in recent if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) < n:
        return None  # not enough check-ins yet to say anything
    return min(numbers) if func == "min_recent" else max(numbers)


def _safe_compare(compare: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    try:
        return bool(compare(left, right))
    except TypeError:
        return False  # a word compared with a number: not counted


def _eval(node: ast.AST, scope: Scope) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return scope.lookup(node.id)
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, scope) for e in node.elts]
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, scope)
        return (not value) if isinstance(node.op, ast.Not) else -value
    if isinstance(node, ast.BoolOp):
        results = (_eval(v, scope) for v in node.values)
        return all(results) if isinstance(node.op, ast.And) else any(results)
    if isinstance(node, ast.Call):
        return _recent_call(node, scope)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, scope)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _eval(right_node, scope)
            if (left is None or right is None) and not isinstance(op, ast.Eq | ast.NotEq):
                return False
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    raise TypeError(f"unsupported node {type(node).__name__}")
