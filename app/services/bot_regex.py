"""A regular-expression matcher for the bot's keyword rules that cannot backtrack.

Python's `re` backtracks: `(a+)+$` against forty "a" and a "!" runs for minutes, and `re` has no
time limit. An owner types these patterns in the browser, so one bad pattern would stall the whole
server (one event loop for every tenant). Here a pattern is parsed with Python's own parser, then
compiled to a Thompson NFA and run as a set of states over the text (as RE2 does): the work is at
most (characters read) x (states), whatever the pattern. What an NFA cannot do without
backtracking (back-references, look-arounds, atomic groups) is refused when the rule is saved.

Matching is a search ("does it occur anywhere?") over text already folded (lower case, no
accents, app.sqlite.fold); literals of the pattern are folded the same way, so "envío" and
"ENVIO" both find `env[ií]o` and `envio`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from re import _constants as c  # type: ignore[attr-defined]
from re import _parser as parser  # type: ignore[attr-defined]

from app.sqlite import fold

MAX_PATTERN = 200  # characters: a keyword rule, not a program
MAX_STATES = 200  # NFA states: bounds the work per character (x{1,1000} is refused, not expanded)
MAX_TEXT = 1000  # characters of a message a pattern reads: keeps the worst case near 0.2 M steps

_CHAR, _SPLIT, _ASSERT, _MATCH = range(4)


class UnsafePattern(ValueError):
    """The pattern does not parse, or uses what only a backtracking matcher can do."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(slots=True)
class _State:
    kind: int
    pred: Callable[[str], bool] | None = None
    assertion: str = ""
    out: int = -1
    out2: int = -1


@dataclass(slots=True)
class Program:
    """A compiled pattern; `steps` counts state visits of the last search (tests read it)."""

    states: list[_State]
    start: int
    steps: int = field(default=0)

    def search(self, folded_text: str) -> bool:
        """True if the pattern occurs anywhere in `folded_text` (the first MAX_TEXT characters)."""
        text = folded_text[:MAX_TEXT]
        self.steps = 0
        current = self._closure([self.start], text, 0)
        if current is None:
            return True
        for i, ch in enumerate(text):
            moved = [self.states[s].out for s in current
                     if (pred := self.states[s].pred) is not None and pred(ch)]
            self.steps += len(current)
            moved.append(self.start)  # a search: a match may also begin at the next position
            current = self._closure(moved, text, i + 1)
            if current is None:
                return True
        return False

    def _closure(self, seeds: list[int], text: str, pos: int) -> list[int] | None:
        """The character states reachable without reading; None if the match state is."""
        seen: set[int] = set()
        stack = list(reversed(seeds))
        chars: list[int] = []
        while stack:
            s = stack.pop()
            if s in seen:
                continue
            seen.add(s)
            self.steps += 1
            state = self.states[s]
            if state.kind == _MATCH:
                return None
            if state.kind == _CHAR:
                chars.append(s)
            elif state.kind == _SPLIT:
                stack.append(state.out2)
                stack.append(state.out)
            elif _holds(state.assertion, text, pos):
                stack.append(state.out)
        return chars


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _holds(assertion: str, text: str, pos: int) -> bool:
    if assertion == "bol":
        return pos == 0
    if assertion == "eol":
        return pos == len(text)
    before = pos > 0 and _is_word(text[pos - 1])
    after = pos < len(text) and _is_word(text[pos])
    return (before != after) == (assertion == "boundary")


_CATEGORIES: dict[object, Callable[[str], bool]] = {
    c.CATEGORY_DIGIT: str.isdigit,
    c.CATEGORY_NOT_DIGIT: lambda ch: not ch.isdigit(),
    c.CATEGORY_SPACE: str.isspace,
    c.CATEGORY_NOT_SPACE: lambda ch: not ch.isspace(),
    c.CATEGORY_WORD: _is_word,
    c.CATEGORY_NOT_WORD: lambda ch: not _is_word(ch),
}
_ASSERTIONS = {
    c.AT_BEGINNING: "bol", c.AT_BEGINNING_STRING: "bol", c.AT_END: "eol", c.AT_END_STRING: "eol",
    c.AT_BOUNDARY: "boundary", c.AT_NON_BOUNDARY: "inside",
}


def _folded_char(code: int) -> str:
    """One pattern character as the folded text has it ("É" -> "e"); '' if folding removes it."""
    return (fold(chr(code)) or "")[:1]


def _class_pred(items: list[tuple[object, object]]) -> Callable[[str], bool]:
    """A `[...]` set; the text is lower case, so ranges also match the upper-case of a char."""
    negate = False
    tests: list[Callable[[str], bool]] = []
    for op, arg in items:
        if op is c.NEGATE:
            negate = True
        elif op is c.LITERAL:
            lit = _folded_char(int(arg))  # type: ignore[call-overload]
            tests.append(lambda ch, lit=lit: ch == lit)  # type: ignore[misc]
        elif op is c.RANGE:
            lo, hi = arg  # type: ignore[misc]
            tests.append(lambda ch, lo=lo, hi=hi: lo <= ord(ch) <= hi or lo <= ord(ch.upper()[:1]) <= hi)  # type: ignore[misc]
        elif op is c.CATEGORY and arg in _CATEGORIES:
            tests.append(_CATEGORIES[arg])
        else:
            raise UnsafePattern("regex_unsupported")

    def pred(ch: str) -> bool:
        return any(t(ch) for t in tests) != negate

    return pred


class _Compiler:
    def __init__(self) -> None:
        self.states: list[_State] = []

    def add(self, state: _State) -> int:
        if len(self.states) >= MAX_STATES:
            raise UnsafePattern("regex_too_complex")
        self.states.append(state)
        return len(self.states) - 1

    def seq(self, items: list[tuple[object, object]], nxt: int) -> int:
        """Compile a sequence backwards: each item's exit is the next item's entry."""
        for op, arg in reversed(items):
            nxt = self.item(op, arg, nxt)
        return nxt

    def item(self, op: object, arg: object, nxt: int) -> int:
        if op is c.LITERAL:
            for ch in reversed(fold(chr(int(arg))) or ""):  # type: ignore[call-overload]
                nxt = self.add(_State(_CHAR, pred=lambda x, ch=ch: x == ch, out=nxt))  # type: ignore[misc]
            return nxt
        if op is c.NOT_LITERAL:
            lit = _folded_char(int(arg))  # type: ignore[call-overload]
            return self.add(_State(_CHAR, pred=lambda x, lit=lit: x != lit, out=nxt))  # type: ignore[misc]
        if op is c.ANY:
            return self.add(_State(_CHAR, pred=lambda x: x != "\n", out=nxt))
        if op is c.IN:
            return self.add(_State(_CHAR, pred=_class_pred(arg), out=nxt))  # type: ignore[arg-type]
        if op is c.AT and arg in _ASSERTIONS:
            return self.add(_State(_ASSERT, assertion=_ASSERTIONS[arg], out=nxt))
        if op is c.SUBPATTERN:
            return self.seq(list(arg[3]), nxt)  # type: ignore[index]
        if op is c.BRANCH:
            branches = arg[1]  # type: ignore[index]
            entry = self.seq(list(branches[-1]), nxt)
            for branch in reversed(branches[:-1]):
                entry = self.add(_State(_SPLIT, out=self.seq(list(branch), nxt), out2=entry))
            return entry
        if op in (c.MAX_REPEAT, c.MIN_REPEAT):
            lo, hi, body = arg  # type: ignore[misc]
            return self.repeat(int(lo), hi, list(body), nxt)
        raise UnsafePattern("regex_unsupported")  # back-references, look-arounds, atomic groups

    def repeat(self, lo: int, hi: object, body: list[tuple[object, object]], nxt: int) -> int:
        if hi is c.MAXREPEAT:
            loop = self.add(_State(_SPLIT, out2=nxt))  # body again, or leave
            self.states[loop].out = self.seq(body, loop)
            tail = loop
        else:
            tail = nxt
            for _ in range(int(hi) - lo):  # type: ignore[call-overload]
                tail = self.add(_State(_SPLIT, out=self.seq(body, tail), out2=nxt))
        for _ in range(lo):
            tail = self.seq(body, tail)
        return tail


def compile_pattern(pattern: str) -> Program:
    """Parse and compile a keyword pattern, or raise UnsafePattern with a field error code."""
    if not pattern or len(pattern) > MAX_PATTERN:
        raise UnsafePattern("regex_too_long" if pattern else "required")
    try:
        parsed = parser.parse(pattern, 0)
    except (re.error, RecursionError, OverflowError):
        raise UnsafePattern("regex_invalid") from None
    compiler = _Compiler()
    match = compiler.add(_State(_MATCH))
    start = compiler.seq(list(parsed), match)
    return Program(compiler.states, start)
