"""A small Flux checker for the generated tasks and dashboard queries (no InfluxDB 2 here).

It tokenises Flux (strings and their escapes, identifiers, numbers, durations, operators,
`//` comments), checks that brackets balance, and parses statements: imports, options,
assignments and expressions, with pipelines as [(function, {argument: raw text})].
Not covered, because the generated Flux never uses them: regular expression and date-time
literals, indexing (`a[0]`), function bodies in braces, and string interpolation (an
unescaped `${` is reported as an escaping bug).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

Step = tuple[str, dict[str, str]]
_TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<comment>//[^\n]*)"
    r"|(?P<duration>(?:\d+(?:mo|ms|us|µs|ns|y|w|d|h|m|s))+)(?![\w.])"
    r"|(?P<number>\d+\.\d*|\.\d+|\d+)(?![\w.])|(?P<ident>[^\W\d]\w*)"
    r"|(?P<op>\|>|=>|==|!=|<=|>=|=~|!~|<-|[-+*/%<>=,:.()\[\]{}])"
)
_ESCAPES = {"n", "r", "t", "\\", '"'}
_CLOSES = {"(": ")", "[": "]", "{": "}"}
_BINARY = {"+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "=~", "!~", "and", "or"}


class FluxSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    kind: str  # string, duration, number, ident, op
    text: str
    start: int
    end: int


@dataclass
class Node:
    kind: str  # call, pipe, record, other
    start: int
    end: int
    name: str = ""  # a call's function; an identifier's dotted name
    args: dict[str, str] = field(default_factory=dict)  # call arguments, record fields
    steps: list[Step] = field(default_factory=list)


@dataclass
class Program:
    imports: list[str] = field(default_factory=list)
    options: dict[str, Node] = field(default_factory=dict)
    variables: dict[str, Node] = field(default_factory=dict)
    expressions: list[Node] = field(default_factory=list)

    def pipelines(self) -> list[list[Step]]:
        calls = [n for n in self.expressions if n.kind in ("pipe", "call")]
        return [n.steps or [(n.name, n.args)] for n in calls]


def _fail(source: str, at: int, message: str) -> FluxSyntaxError:
    line = source.count("\n", 0, at) + 1
    return FluxSyntaxError(f"line {line}: {message}")


def _string_end(source: str, start: int) -> int:
    i = start + 1
    while i < len(source):
        char, rest = source[i], source[i + 1 : i + 4]
        if char == '"':
            return i + 1
        if char == "$" and rest.startswith("{"):
            raise _fail(source, i, "unescaped ${ in a string (interpolation)")
        if char != "\\":
            i += 1
        elif rest.startswith("${"):
            i += 3
        elif rest[:1] in _ESCAPES:
            i += 2
        elif re.fullmatch(r"x[0-9A-Fa-f]{2}", rest):
            i += 4
        else:
            raise _fail(source, i, f"invalid escape \\{rest[:1]} in a string")
    raise _fail(source, start, "unterminated string")


def tokenize(source: str) -> list[Token]:
    tokens, at, open_brackets = [], 0, []
    while at < len(source):
        if source[at] == '"':
            end = _string_end(source, at)
            tokens.append(Token("string", source[at:end], at, end))
            at = end
            continue
        match = _TOKEN.match(source, at)
        if not match:
            raise _fail(source, at, f"unexpected character {source[at]!r}")
        kind, text = match.lastgroup, match.group()
        if kind not in ("space", "comment"):
            tokens.append(Token(kind, text, at, match.end()))
        if text in _CLOSES:
            open_brackets.append((text, at))
        elif text in _CLOSES.values():
            if not open_brackets or _CLOSES[open_brackets[-1][0]] != text:
                raise _fail(source, at, f"unbalanced {text!r}")
            open_brackets.pop()
        at = match.end()
    if open_brackets:
        raise _fail(source, open_brackets[-1][1], f"{open_brackets[-1][0]!r} is never closed")
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.source, self.tokens, self.i = source, tokenize(source), 0

    def peek(self, ahead: int = 0) -> str | None:
        i = self.i + ahead
        return self.tokens[i].text if i < len(self.tokens) else None

    def take(self, text: str | None = None, kind: str | None = None) -> Token:
        token = self.tokens[self.i] if self.i < len(self.tokens) else None
        if token is None or (text and token.text != text) or (kind and token.kind != kind):
            at = token.start if token else len(self.source)
            found = repr(token.text) if token else "the end"
            raise _fail(self.source, at, f"expected {text or kind}, found {found}")
        self.i += 1
        return token

    def raw(self, node: Node) -> str:
        return self.source[node.start : node.end]

    def program(self) -> Program:
        program = Program()
        while self.peek() is not None:
            if self.peek() == "import":
                self.take()
                program.imports.append(self.take(kind="string").text[1:-1])
            elif self.peek() == "option":
                self.take()
                name = self.take(kind="ident").text
                self.take("=")
                program.options[name] = self.expression()
            elif self.tokens[self.i].kind == "ident" and self.peek(1) == "=":
                name = self.take().text
                self.take("=")
                program.variables[name] = self.expression()
            else:
                program.expressions.append(self.expression())
        return program

    def expression(self) -> Node:
        node = self.unary()
        while self.peek() in _BINARY:
            self.take()
            node = Node("other", node.start, self.unary().end)
        return node

    def unary(self) -> Node:
        if self.peek() in ("-", "+", "not", "exists"):
            start = self.take().start
            return Node("other", start, self.unary().end)
        node = self.postfix()
        if self.peek() != "|>":
            return node
        steps = [(node.name, node.args) if node.kind == "call" else (self.raw(node), {})]
        while self.peek() == "|>":
            self.take()
            stage = self.postfix()
            if stage.kind != "call":
                raise _fail(self.source, stage.start, f"pipe stage {self.raw(stage)!r} is no call")
            steps.append((stage.name, stage.args))
        return Node("pipe", node.start, stage.end, steps=steps)

    def postfix(self) -> Node:
        node = self.primary()
        while self.peek() in (".", "("):
            op, name = self.take().text, node.name if node.kind == "other" else ""
            if op == ".":
                member = self.take(kind="ident")
                node = Node("other", node.start, member.end, name=f"{name}.{member.text}")
            else:
                args = self.properties(")")
                node = Node("call", node.start, self.take(")").end, name=name, args=args)
        return node

    def properties(self, close: str) -> dict[str, str]:
        """``key: value, ...`` up to ``close``: call arguments and record fields."""
        props = {}
        while self.peek() != close:
            key = self.take().text
            if not (key.isidentifier() or key.startswith('"')):
                raise _fail(self.source, self.tokens[self.i - 1].start, f"bad key {key!r}")
            self.take(":")
            props[key] = self.raw(self.expression())
            if self.peek() != close:
                self.take(",")
        return props

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "ident":
            return Node("other", token.start, token.end, name=token.text)
        if token.kind != "op":
            return Node("other", token.start, token.end)
        if token.text == "[":
            while self.peek() != "]":
                self.expression()
                if self.peek() != "]":
                    self.take(",")
            return Node("other", token.start, self.take("]").end)
        if token.text == "{":
            if self.peek(1) == "with":
                self.i += 2
            fields = self.properties("}")
            return Node("record", token.start, self.take("}").end, args=fields)
        if token.text == "(":
            if self.peek() == ")" or (self.peek(1) in (",", ")", "=") and self._is_function()):
                return self.function(token.start)
            inner = self.expression()
            inner.start, inner.end = token.start, self.take(")").end
            return inner
        raise _fail(self.source, token.start, f"unexpected {token.text!r}")

    def _is_function(self) -> bool:
        depth, i = 1, self.i
        while depth:
            depth += {"(": 1, ")": -1}.get(self.tokens[i].text, 0)
            i += 1
        return i < len(self.tokens) and self.tokens[i].text == "=>"

    def function(self, start: int) -> Node:
        while self.peek() != ")":
            self.take(kind="ident")
            if self.peek() == "=":
                self.take("=")
                self.expression()
            if self.peek() != ")":
                self.take(",")
        self.take(")")
        self.take("=>")
        return Node("other", start, self.expression().end)


def parse(source: str) -> Program:
    """Raises FluxSyntaxError, naming the line, for text this subset of Flux does not accept."""
    return _Parser(source).program()
