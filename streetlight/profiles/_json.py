"""Where a value sits in a vendor's JSON: a JMESPath expression, compiled once per profile.

Any JMESPath expression reads (https://jmespath.org/specification.html): `data.U`,
`"3316/0/5700"`, `body."Voltage (V)"`, `[?n=='voltage'].v | [0]`. Most vendor paths are a
chain of keys and list indexes; those are walked directly, with JMESPath's meaning (a key of
something that is not an object, or an index of something that is not a list, is absent), at a
fraction of the cost of the general interpreter on the gateway's hot path. Only a chain can be
written, which is what the simulator and the command path need.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

Step = str | int


class JsonPath:
    """A compiled JMESPath expression; `get` reads it, `put` writes it where it is a chain."""

    __slots__ = ("_parsed", "expression", "steps")

    def __init__(self, expression: str) -> None:
        if not expression.strip():
            raise ValueError("an empty path")
        try:
            self._parsed = jmespath.compile(expression)
        except JMESPathError as exc:
            reason = " ".join(str(exc).split())
            raise ValueError(f"not a JMESPath expression: {reason}") from exc
        self.expression = expression
        self.steps: tuple[Step, ...] | None = _chain(self._parsed.parsed)

    def get(self, document: Any) -> Any:
        """The value, or None where the path finds nothing (JSON null reads as None too)."""
        steps = self.steps
        if steps is None:
            return self._parsed.search(document)
        node = document
        for step in steps:
            if isinstance(step, str):
                if not isinstance(node, dict):
                    return None
                node = node.get(step)
            else:
                if not isinstance(node, list):
                    return None
                try:
                    node = node[step]
                except IndexError:
                    return None
        return node

    def put(self, document: dict[str, Any] | list[Any], value: object) -> None:
        """Write `value` where `get` reads it, making the objects and lists on the way."""
        steps = self.steps
        if not steps:
            raise ValueError(f"{self.expression!r} is not a chain of keys and indexes")
        node: Any = document
        for step, following in zip(steps, [*steps[1:], None], strict=True):
            fresh: Any = value if following is None else ({} if isinstance(following, str) else [])
            if isinstance(step, str):
                if following is None or step not in node:
                    node[step] = fresh
                node = node[step]
            else:
                if step < 0:
                    raise ValueError(f"{self.expression!r}: cannot write at a negative index")
                while len(node) <= step:
                    node.append({} if isinstance(following, str) else [])
                if following is None:
                    node[step] = value
                node = node[step]

    @property
    def writable(self) -> bool:
        return bool(self.steps)

    def __repr__(self) -> str:
        return f"JsonPath({self.expression!r})"


def _chain(node: Mapping[str, Any]) -> tuple[Step, ...] | None:
    """The keys and indexes of a chain expression (`a."b c"[0].d`), or None for anything else."""
    kind = node["type"]
    parts: list[tuple[Step, ...] | None]
    if kind == "field":
        parts = [(str(node["value"]),)]
    elif kind == "identity":
        parts = [()]
    elif kind == "subexpression":
        parts = [_chain(child) for child in node["children"]]
    elif kind == "index_expression" and node["children"][1]["type"] == "index":
        left, index = node["children"]
        parts = [_chain(left), (int(index["value"]),)]
    else:
        parts = [None]
    steps: list[Step] = []
    for part in parts:
        if part is None:
            return None
        steps.extend(part)
    return tuple(steps)


@lru_cache(maxsize=4096)
def compiled(expression: str) -> JsonPath:
    """The compiled path of an expression (profiles share many: compiled once)."""
    return JsonPath(expression)
