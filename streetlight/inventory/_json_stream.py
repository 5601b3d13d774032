"""Reading one large JSON object member by member, and one array of it element by element.

A district's GeoJSON holds tens of thousands of features; parsed whole, it takes several
kilobytes per lamp before a single lamp is built. This reads the file in chunks and hands out
the elements of one top-level array (the features) as they are decoded, so memory holds one
chunk and one feature at a time. Other top-level members are returned whole.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from typing import IO, Any

CHUNK = 1 << 16
_WHITESPACE = " \t\n\r"


class JsonStreamError(ValueError):
    """Not JSON, or not an object; `offset` is the character where reading stopped."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at character {offset}")
        self.offset = offset


class NotAnObjectError(JsonStreamError):
    """Perhaps valid JSON, but its top level is not an object."""


class JsonStream:
    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._json = json.JSONDecoder()
        self._buffer = ""
        self._pos = 0
        self._consumed = 0  # characters dropped from the front of the buffer
        self._eof = False

    def read_object(self, array: str, on_element: Callable[[Any], None]) -> dict[str, Any]:
        """Parse the top-level object; each element of member `array` goes to `on_element`."""
        members: dict[str, Any] = {}
        if self._peek() != "{":
            raise NotAnObjectError("the document is not a JSON object", self._consumed + self._pos)
        self._pos += 1
        if self._peek() == "}":
            self._pos += 1
            return members
        while True:
            key = self._value()
            if not isinstance(key, str):
                raise self._error("expected a member name")
            self._expect(":")
            if key == array and self._peek() == "[":
                self._pos += 1
                self._elements(on_element)
                members[key] = True
            else:
                members[key] = self._value()
            separator = self._next_char()
            if separator == "}":
                return members
            if separator != ",":
                raise self._error("expected ',' or '}'")

    def _elements(self, on_element: Callable[[Any], None]) -> None:
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            on_element(self._value())
            separator = self._next_char()
            if separator == "]":
                return
            if separator != ",":
                raise self._error("expected ',' or ']'")

    def _value(self) -> Any:
        self._skip_whitespace()
        while True:
            try:
                value, end = self._json.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError as exc:
                # perhaps a value cut off by the end of the chunk: read more and try again
                if self._fill():
                    continue
                raise JsonStreamError(exc.msg, self._consumed + exc.pos) from exc
            # a number at the very end of the buffer may continue in the next chunk
            if end == len(self._buffer) and not self._eof and self._fill():
                continue
            self._pos = end
            return value

    def _fill(self) -> bool:
        """Append the next chunk, dropping what has been read; False at the end of the file."""
        if self._eof:
            return False
        chunk = self._file.read(CHUNK)
        self._consumed += self._pos
        self._buffer = self._buffer[self._pos :] + self._decoder.decode(chunk, final=not chunk)
        self._pos = 0
        self._eof = not chunk
        return True

    def _skip_whitespace(self) -> None:
        while True:
            while self._pos < len(self._buffer) and self._buffer[self._pos] in _WHITESPACE:
                self._pos += 1
            if self._pos < len(self._buffer) or not self._fill():
                return

    def _peek(self) -> str:
        self._skip_whitespace()
        return self._buffer[self._pos] if self._pos < len(self._buffer) else ""

    def _next_char(self) -> str:
        char = self._peek()
        self._pos += 1
        return char

    def _expect(self, char: str) -> None:
        if self._next_char() != char:
            raise self._error(f"expected {char!r}")

    def _error(self, message: str) -> JsonStreamError:
        return JsonStreamError(message, self._consumed + self._pos)
