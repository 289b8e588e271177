"""A small, safe condition language for rules: comparisons joined by `and`/`or`, no eval.

    battery_soc_pct < 30 or battery_voltage_v < 23.4
    charge_state == "fault" or error_code != 0
    (level_pct < 20 and outflow_lpm > 1) or level_pct < 5

A comparison on a field a reading does not carry is left out; a reading with none of a
condition's fields gives no answer (None), so it neither starts nor clears an alert.

Besides a kind's fields, a condition may name a variable of the reading's station and time
(CONTEXT): `lights_on == 0 and is_night == 1`. The engine adds it to the readings of the
kinds whose rules name one; without it (an unregistered station) such a condition gives no
answer.
"""

from __future__ import annotations

import operator
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from devices.catalogue import RULE_KINDS as KINDS
from devices.errors import ConfigError
from devices.kind import FieldValue

Fields = Mapping[str, FieldValue]
Test = Callable[[Fields], "bool | None"]

_OPS: dict[str, Callable[[typing.Any, typing.Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    r"|(?P<str>\"[^\"\\]*\"|'[^'\\]*')"
    r"|(?P<op><=|>=|==|!=|<|>)"
    r"|(?P<paren>[()])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*))"
)
MAX_LENGTH = 500
# Variables of the station and the reading's device time, by name: what they mean.
CONTEXT: dict[str, str] = {
    "is_night": "1 from civil dusk to civil dawn at the station's coordinates, else 0",
}


class ConditionError(ConfigError):
    """A condition that cannot be parsed or does not fit its kind; the message is one line."""


@dataclass(frozen=True, slots=True)
class Comparison:
    """`field op literal`: the leaf of a condition, and the witness named in alert texts."""

    field: str
    op: str
    literal: float | str

    def test(self, fields: Fields) -> bool | None:
        value = fields.get(self.field)
        if value is None:
            return None
        return _OPS[self.op](value, self.literal)

    def explain(self, fields: Fields) -> Comparison | None:
        return self if self.test(fields) else None

    def comparisons(self) -> list[Comparison]:
        return [self]

    def __str__(self) -> str:
        lit = f'"{self.literal}"' if isinstance(self.literal, str) else _num(self.literal)
        return f"{self.field} {self.op} {lit}"


@dataclass(frozen=True, slots=True)
class AnyOf:
    """`a or b or ...`: true when one is; false when none is and one answered."""

    parts: tuple[Node, ...]

    def test(self, fields: Fields) -> bool | None:
        answered = False
        for part in self.parts:
            r = part.test(fields)
            if r:
                return True
            if r is not None:
                answered = True
        return False if answered else None

    def explain(self, fields: Fields) -> Comparison | None:
        for part in self.parts:
            w = part.explain(fields)
            if w is not None:
                return w
        return None

    def comparisons(self) -> list[Comparison]:
        return [c for p in self.parts for c in p.comparisons()]

    def __str__(self) -> str:
        return " or ".join(f"({p})" if isinstance(p, AllOf) else str(p) for p in self.parts)


@dataclass(frozen=True, slots=True)
class AllOf:
    """`a and b and ...`: false when one is; true when none is and one answered."""

    parts: tuple[Node, ...]

    def test(self, fields: Fields) -> bool | None:
        answered = False
        for part in self.parts:
            r = part.test(fields)
            if r is False:
                return False
            if r is not None:
                answered = True
        return True if answered else None

    def explain(self, fields: Fields) -> Comparison | None:
        if not self.test(fields):
            return None
        for part in self.parts:
            w = part.explain(fields)
            if w is not None:
                return w
        return None

    def comparisons(self) -> list[Comparison]:
        return [c for p in self.parts for c in p.comparisons()]

    def __str__(self) -> str:
        return " and ".join(f"({p})" if isinstance(p, AnyOf) else str(p) for p in self.parts)


Node = Comparison | AnyOf | AllOf


def compile_node(node: Node) -> Test:
    """A closure for a comparison or an `and`/`or` of comparisons (nearly every rule): the
    engine tests every rule on every reading. Mixed trees keep the tree's own `test`."""
    if isinstance(node, Comparison):
        name, op, literal = node.field, _OPS[node.op], node.literal

        def compare(fields: Fields) -> bool | None:
            value = fields.get(name)
            return None if value is None else op(value, literal)

        return compare
    if all(isinstance(p, Comparison) for p in node.parts):
        return _compile_flat(node)
    return node.test


def _compile_flat(node: AnyOf | AllOf) -> Test:
    """`a or b` / `a and b` of plain comparisons (the usual rule) as one loop, no nested calls."""
    leaves = [p for p in node.parts if isinstance(p, Comparison)]
    triples = tuple((c.field, _OPS[c.op], c.literal) for c in leaves)
    if isinstance(node, AnyOf):

        def any_of(fields: Fields) -> bool | None:
            answered = False
            for name, op, literal in triples:
                value = fields.get(name)
                if value is not None:
                    if op(value, literal):
                        return True
                    answered = True
            return False if answered else None

        return any_of

    def all_of(fields: Fields) -> bool | None:
        answered = False
        for name, op, literal in triples:
            value = fields.get(name)
            if value is not None:
                if not op(value, literal):
                    return False
                answered = True
        return True if answered else None

    return all_of


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition for one device kind."""

    source: str
    kind: str
    root: Node
    # the same answers as root.test, compiled once (tests/test_alerts_rules.py)
    test: Test = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        test = compile_node(self.root)
        needs = tuple(sorted(self.context))
        if needs:
            inner = test

            def with_context(fields: Fields) -> bool | None:
                # a reading the engine could not place in time and space: no answer
                for name in needs:
                    if name not in fields:
                        return None
                return inner(fields)

            test = with_context
        object.__setattr__(self, "test", test)

    def witness(self, fields: Fields) -> Comparison:
        """The comparison that makes the condition hold (or its first one with a value)."""
        w = self.root.explain(fields)
        comps = self.root.comparisons()
        if w is not None and w.field in CONTEXT:
            # "is_night == 1" says nothing to whoever reads the page: name a field that holds
            return next((c for c in comps if c.field not in CONTEXT and c.test(fields)), w)
        if w is not None:
            return w
        return next((c for c in comps if c.field in fields), comps[0])

    @property
    def fields(self) -> frozenset[str]:
        """The kind's fields it reads (not its context variables)."""
        return frozenset(c.field for c in self.root.comparisons() if c.field not in CONTEXT)

    @property
    def context(self) -> frozenset[str]:
        """The context variables it reads."""
        return frozenset(c.field for c in self.root.comparisons() if c.field in CONTEXT)

    def __str__(self) -> str:
        return str(self.root)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _string_choices(kind: str, field: str) -> tuple[str, ...] | None:
    """The allowed values of a string field when its model restricts them (a Literal)."""
    ann = KINDS[kind].model.model_fields[field].annotation
    for arg in typing.get_args(ann) or (ann,):
        if typing.get_origin(arg) is typing.Literal:
            return tuple(str(a) for a in typing.get_args(arg))
    return None


class _Parser:
    def __init__(self, source: str, kind: str) -> None:
        self.source = source
        self.kind = kind
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        text = source.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.lastgroup is None:
                bad = text[pos:].strip()[:20]
                raise self.error(f"unexpected {bad!r}", pos)
            self.tokens.append((m.lastgroup, m.group(m.lastgroup), m.start(m.lastgroup)))
            pos = m.end()
        self.i = 0

    def error(self, what: str, pos: int | None = None) -> ConditionError:
        at = f" at position {pos + 1}" if pos is not None else " at the end"
        return ConditionError(f"condition {self.source!r}: {what}{at}")

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise self.error(f"expected {expected}")
        self.i += 1
        return tok

    def parse(self) -> Node:
        if not self.tokens:
            raise ConditionError("condition is empty")
        node = self.expr()
        tok = self.peek()
        if tok is not None:
            raise self.error(f"unexpected {tok[1]!r} (join comparisons with 'and'/'or')", tok[2])
        return node

    def _is_word(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "name" and tok[1].lower() == word

    def expr(self) -> Node:
        parts = [self.conj()]
        while self._is_word("or"):
            self.i += 1
            parts.append(self.conj())
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    def conj(self) -> Node:
        parts = [self.atom()]
        while self._is_word("and"):
            self.i += 1
            parts.append(self.atom())
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def atom(self) -> Node:
        kind, text, pos = self.take("a field name or '('")
        if kind == "paren" and text == "(":
            node = self.expr()
            _, text2, pos2 = self.take("')'")
            if text2 != ")":
                raise self.error(f"expected ')' but found {text2!r}", pos2)
            return node
        if kind != "name" or text.lower() in ("and", "or"):
            raise self.error(f"expected a field name but found {text!r}", pos)
        return self.comparison(text, pos)

    def comparison(self, field: str, pos: int) -> Comparison:
        dk = KINDS[self.kind]
        if field not in dk.field_names and field not in CONTEXT:
            known = ", ".join((*dk.field_names, *CONTEXT))
            raise self.error(f"{self.kind!r} has no field {field!r} (fields: {known})", pos)
        kind, op, opos = self.take(f"a comparison operator after {field!r}")
        if kind != "op":
            raise self.error(f"expected one of < <= > >= == != after {field!r}", opos)
        lkind, lit, lpos = self.take(f"a number or a quoted string after {op!r}")
        if field in dk.str_fields:
            if lkind != "str":
                raise self.error(f"{field!r} is text: compare it with a quoted string", lpos)
            if op not in ("==", "!="):
                raise self.error(f"{field!r} is text: only == and != apply", opos)
            value = lit[1:-1]
            choices = _string_choices(self.kind, field)
            if choices is not None and value not in choices:
                raise self.error(
                    f"{field!r} is never {value!r} (one of {', '.join(choices)})", lpos
                )
            return Comparison(field, op, value)
        if lkind != "num":
            raise self.error(f"{field!r} is a number: compare it with a number", lpos)
        return Comparison(field, op, float(lit))


def parse_condition(source: str, kind: str) -> Condition:
    """Parse and check `source` against the fields of `kind`; raises ConditionError."""
    if kind not in KINDS:
        raise ConditionError(f"unknown device kind {kind!r} (kinds: {', '.join(KINDS)})")
    if len(source) > MAX_LENGTH:
        raise ConditionError(f"condition is longer than {MAX_LENGTH} characters")
    return Condition(source, kind, _Parser(source, kind).parse())
