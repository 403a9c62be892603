"""Conditions that can never be true, found from the values each answer can take.

A number question with ``min: 0`` and ``max: 10`` saves 0..10, so ``pain > 10``
never holds; a yes/no question saves the words ``yes`` and ``no``, so
``pain_woke == 5`` never holds; a choice saves its option values exactly as
written (``2`` is a number, ``"2"`` a word).
"""

from __future__ import annotations

import ast
import itertools
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.authoring.findings import Finding
from bot.authoring.names import Names, plain_names
from bot.engine import Flow
from bot.engine.conditions import Condition, Scope
from bot.engine.model import Value
from bot.i18n.languages import LANGUAGES

CHANNELS = ("sms", "whatsapp", "telegram", "simulator")
MAX_CASES = 20_000  # combinations tried for one condition; more are not checked
_FLIP = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_SYMBOL = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


@dataclass
class Domain:
    """The values a name can hold: number ranges, a set of exact values, or any text."""

    ranges: list[tuple[float | None, float | None, bool]] = field(default_factory=list)
    values: list[Value] = field(default_factory=list)
    any_text: bool = False

    def describe(self) -> str:
        parts: list[str] = []
        for low, high, integer in self.ranges:
            kind = "a whole number" if integer else "a number"
            if low is not None and high is not None:
                parts.append(f"{kind} from {low:g} to {high:g}")
            elif low is not None:
                parts.append(f"{kind} of {low:g} or more")
            elif high is not None:
                parts.append(f"{kind} of {high:g} or less")
            else:
                parts.append(kind)
        shown = [_show(v) for v in self.values if v is not None]
        if shown:
            parts.append("one of " + ", ".join(shown))
        if self.any_text:
            parts.append("some text")
        return " or ".join(parts) or "never a number"

    def candidates(self, constants: Iterable[object]) -> list[Value]:
        """Values worth trying: the exact values, and each range's edges near the constants."""
        found: list[Value] = [None, *self.values]
        numbers = [c for c in constants if _is_number(c)]
        for low, high, integer in self.ranges:
            points: set[float] = set()
            for c in numbers:
                assert isinstance(c, int | float)
                points.update({c, c - 1, c + 1, c - 0.5, c + 0.5, math.floor(c), math.ceil(c)})
            points.update(p for p in (low, high) if p is not None)
            if low is not None and high is not None:
                points.add((low + high) / 2)
            if not points:
                points.add(0)
            for p in sorted(points):
                if (low is not None and p < low) or (high is not None and p > high):
                    continue
                if integer and not float(p).is_integer():
                    continue
                found.append(int(p) if float(p).is_integer() else p)
        if self.any_text:
            found += [c for c in constants if isinstance(c, str)]
            found.append("some other words")
        return list(dict.fromkeys(found))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _show(value: Value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def domains(flows: Iterable[Flow], names: Names) -> dict[str, Domain]:
    """The domain of every name we can know completely (answers, set fields, language)."""
    found: dict[str, Domain] = {
        "language": Domain(values=list(LANGUAGES)),
        "channel": Domain(values=list(CHANNELS)),
    }
    for flow in flows:
        for step in flow.steps.values():
            if step.save and step.ask is not None:
                domain = found.setdefault(step.save, Domain())
                ask = step.ask
                if ask.type == "number":
                    domain.ranges.append((ask.minimum, ask.maximum, ask.integer))
                elif ask.type == "text":
                    domain.any_text = True
                else:
                    domain.values += [o.value for o in ask.options]
            for key, value in step.set_fields:
                found.setdefault(key, Domain()).values.append(value)
    unknowable = names.extra - {"language", "channel"}
    return {k: v for k, v in found.items() if k not in unknowable}


def _constant(node: ast.expr) -> tuple[bool, object]:
    if isinstance(node, ast.Constant):
        return True, node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, int | float)
        and not isinstance(node.operand.value, bool)
    ):
        return True, -node.operand.value
    if isinstance(node, ast.List | ast.Tuple):
        items = [_constant(e) for e in node.elts]
        if all(ok for ok, _ in items):
            return True, [v for _, v in items]
    return False, None


def _subject(node: ast.expr, known: Mapping[str, Domain]) -> tuple[str, Domain] | None:
    """The name and domain a comparison side reads, for plain names and min/max_recent."""
    if isinstance(node, ast.Name) and node.id in known:
        return node.id, known[node.id]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("min_recent", "max_recent")
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id in known
    ):
        domain = known[node.args[0].id]
        return f"{node.func.id}({node.args[0].id}, ...)", Domain(ranges=_numeric(domain))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "count_recent"
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, int)
    ):
        top = float(node.args[1].value)
        inner = node.args[0]
        if isinstance(inner, ast.Name) and inner.id in known:
            op_ok, op_text = _constant(node.args[2])
            value_ok, value = _constant(node.args[3])
            op_type = {v: k for k, v in _SYMBOL.items()}.get(str(op_text)) if op_ok else None
            if (
                op_type is not None
                and value_ok
                and not _possible(known[inner.id], op_type(), value)
            ):
                top = 0.0  # the counted comparison never holds, so the count is always 0
        return "count_recent(...)", Domain(ranges=[(0, top, True)])
    return None


def _numeric(domain: Domain) -> list[tuple[float | None, float | None, bool]]:
    ranges = list(domain.ranges)
    numbers = [
        float(v) for v in domain.values if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    if numbers:
        ranges.append((min(numbers), max(numbers), all(n.is_integer() for n in numbers)))
    return ranges


def _possible(domain: Domain, op: ast.cmpop, constant: object) -> bool:
    """Whether ``value op constant`` holds for some value the domain allows."""
    if isinstance(op, ast.In | ast.NotIn):
        if not isinstance(constant, list):
            return True
        if isinstance(op, ast.NotIn):
            return True
        return any(_possible(domain, ast.Eq(), item) for item in constant)
    compare = _COMPARE[type(op)]
    for value in domain.candidates([constant]):
        if value is None and not isinstance(op, ast.Eq | ast.NotEq):
            continue
        try:
            if compare(value, constant):
                return True
        except TypeError:
            continue
    return False


def _why(name: str, domain: Domain, op: ast.cmpop, constant: object) -> str:
    reason = f"{name} is {domain.describe()}"
    if isinstance(constant, str) and any(_is_number(v) for v in domain.values):
        reason += f" (numbers, so write {constant} without quotes)"
    elif _is_number(constant) and str(constant) in [
        str(v) for v in domain.values if isinstance(v, str)
    ]:
        reason += f' (words, so write "{constant}" in quotes)'
    return reason


def _side(
    subject_node: ast.expr, constant_node: ast.expr, op: ast.cmpop, known: Mapping[str, Domain]
) -> tuple[str, Domain, ast.cmpop, object] | None:
    """(name, domain, op, constant) when one side reads a name we know and the other is fixed."""
    subject = _subject(subject_node, known)
    ok, constant = _constant(constant_node)
    if subject is None or not ok:
        return None
    return subject[0], subject[1], op, constant


def _dead_comparisons(condition: Condition, known: Mapping[str, Domain]) -> list[str]:
    """Each comparison inside the condition that can never be true, explained."""
    reasons: list[str] = []
    for node in ast.walk(condition.tree):
        if not isinstance(node, ast.Compare):
            continue
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            flipped = _FLIP[type(op)]() if type(op) in _FLIP else op
            found = _side(left, right, op, known) or _side(right, left, flipped, known)
            if found is not None:
                name, domain, shown_op, constant = found
                if not _possible(domain, shown_op, constant):
                    reasons.append(_why(name, domain, shown_op, constant))
            left = right
    return reasons


def _never_as_whole(condition: Condition, known: Mapping[str, Domain]) -> bool:
    """Try every combination of likely values for the names the condition reads."""
    if any(isinstance(n, ast.Call) for n in ast.walk(condition.tree)):
        return False
    read = sorted(plain_names(condition))
    if not read or any(name not in known for name in read):
        return False
    constants = [
        value
        for node in ast.walk(condition.tree)
        if isinstance(node, ast.Constant)
        for value in [node.value]
    ]
    choices = [known[name].candidates(constants) for name in read]
    if math.prod(len(c) for c in choices) > MAX_CASES:
        return False
    for combo in itertools.product(*choices):
        answers = dict(zip(read, combo, strict=True))
        if condition.evaluate(Scope(answers, {}, {})):
            return False
    return True


def condition_findings(flow: Flow, file: str, known: Mapping[str, Domain]) -> list[Finding]:
    found: list[Finding] = []
    for step_id in flow.order:
        step = flow.steps[step_id]
        for branch in step.branches:
            condition = branch.condition
            if condition is None:
                continue
            reasons = _dead_comparisons(condition, known)
            if reasons:
                whole = isinstance(condition.tree, ast.Compare) and len(condition.tree.ops) == 1
                part = "can never be true" if whole else "has a part that can never be true"
                found.append(
                    Finding(
                        file,
                        step.line,
                        "error",
                        "never-true",
                        f"the condition {condition.source!r} in step {step_id!r} {part}: "
                        + "; ".join(reasons),
                        flow.id,
                        step_id,
                    )
                )
            elif _never_as_whole(condition, known):
                found.append(
                    Finding(
                        file,
                        step.line,
                        "error",
                        "never-true",
                        f"the condition {condition.source!r} in step {step_id!r} can never be "
                        "true: no answers satisfy all of it at once",
                        flow.id,
                        step_id,
                    )
                )
    return found
