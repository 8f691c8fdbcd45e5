"""Strict parsing of the JSON answers every GPI model call returns.

Strict means: the answer must contain one complete JSON object (the prompt may have opened it,
so the ``prefix`` is put back first), it must decode with :func:`json.loads`, and it must carry
every required key with a value of the required type. Anything else raises :class:`ParseError`;
nothing is repaired, guessed or defaulted here. (The official NLRL code turned unparseable
answers into ``{"action": ""}``, an empty and therefore illegal move; callers here retry and
then fall back *explicitly*, counting it.)

>>> parse_json_answer('5 is free.", "action": "5"}', prefix='{"thought": "',
...                   required={"thought": str, "action": (str, int)})
{'thought': '5 is free.', 'action': '5'}
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from .._exceptions import ParseError

TypeSpec = type | tuple[type, ...]


def first_json_object(text: str) -> str:
    """The first balanced ``{...}`` in ``text`` (braces inside strings do not count)."""
    start = text.find("{")
    if start < 0:
        raise ParseError("no JSON object in the answer", raw=text)
    depth = 0
    in_string = escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
    raise ParseError("the JSON object is not closed", raw=text)


def parse_json_answer(
    text: str,
    *,
    prefix: str = "",
    required: Mapping[str, TypeSpec] | None = None,
    nonempty: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Parse ``prefix + text`` into a dict holding every ``required`` key with its type.

    Keys in ``nonempty`` must not be blank strings. Raises :class:`ParseError` otherwise.
    """
    full = prefix + text
    candidate = first_json_object(full)
    try:
        value = json.loads(candidate)
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON ({exc.msg} at column {exc.colno})", raw=text) from None
    if not isinstance(value, dict):
        raise ParseError(f"expected a JSON object, got {type(value).__name__}", raw=text)
    for key, types in (required or {}).items():
        if key not in value:
            raise ParseError(f"missing key {key!r}", raw=text)
        v = value[key]
        if isinstance(v, bool) and bool not in _as_tuple(types):
            raise ParseError(f"key {key!r} has a boolean, not {_names(types)}", raw=text)
        if not isinstance(v, types):
            raise ParseError(f"key {key!r} must be {_names(types)}, got {type(v).__name__}", raw=text)
    for key in nonempty:
        v = value.get(key)
        if isinstance(v, str) and not v.strip():
            raise ParseError(f"key {key!r} is empty", raw=text)
    return value


def _as_tuple(types: TypeSpec) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _names(types: TypeSpec) -> str:
    return " or ".join(t.__name__ for t in _as_tuple(types))
