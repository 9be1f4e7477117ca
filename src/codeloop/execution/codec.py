"""Values across the sandbox boundary: encode in the child, decode in the trusted parent.

The child turns whatever the program returned into a JSON-able tree built only from exact
builtin types, using the builtin types' own methods (never the object's), so a returned
object cannot run code during encoding or pretend to be something it is not.  Anything that
is not a builtin value becomes an `Opaque` placeholder, which equals nothing.  The parent
decodes the tree back into builtins and compares there.

Tagged forms (JSON objects are always tags, never plain dicts):
    {"t": [...]} tuple   {"s": [...]} set   {"f": [...]} frozenset   {"d": [[k, v], ...]} dict
    {"b": "hex"} bytes   {"c": [re, im]} complex   {"x": "nan" | "inf" | "-inf"} float
    {"h": "-1f..."} a huge int in hex (decimal conversion is quadratic; hex is linear)
    {"o": ["type", "", truthy]} opaque: any other object, with what bool() said of it
"""

from __future__ import annotations

import hashlib
import math
import reprlib
import sys
from typing import Any

MAX_DEPTH = 64
MAX_ITEMS = 2_000_000  # elements in one encoded value
_REPR_CAP = 200
HUGE_INT = 1 << 8192  # beyond this, ints travel in hex

if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)


class EncodeBudget(Exception):
    """The value is too large or too deep to send back."""


class Opaque:
    """A value that was not a plain builtin: shown by its type, equal to nothing.

    `truthy` is what `bool()` said of the object inside the sandbox (None if it raised), so
    checks like `assert f(x)` keep their meaning for objects such as `re.Match`.
    """

    __slots__ = ("type_name", "text", "truthy")

    def __init__(self, type_name: str, text: str, truthy: bool | None = None) -> None:
        self.type_name = type_name
        self.text = text
        self.truthy = truthy

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        if self.truthy is None:
            raise TypeError(f"truth value of {self.type_name} unknown (its __bool__ raised)")
        return self.truthy

    def __repr__(self) -> str:
        return f"<{self.type_name}: {self.text}>" if self.text else f"<{self.type_name}>"


def _safe_type_name(value: object) -> str:
    cls = type(value)
    try:
        name = type.__getattribute__(cls, "__qualname__")
        return name if isinstance(name, str) else "object"
    except Exception:
        return "object"


def _encode_float(value: float) -> Any:
    if math.isfinite(value):
        return value
    return {"x": "nan" if value != value else ("inf" if value > 0 else "-inf")}


class _Encoder:
    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items = 0

    def encode(self, value: Any, depth: int = 0) -> Any:
        self.items += 1
        if self.items > MAX_ITEMS:
            raise EncodeBudget("value has too many elements")
        if depth > MAX_DEPTH:
            raise EncodeBudget("value is nested too deeply")
        cls = type(value)
        # Exact types first: the common case, and no user code can be involved.
        if cls is int:
            if -HUGE_INT < value < HUGE_INT:
                return value
            return {"h": hex(value)}
        if cls is str or cls is bool or value is None:
            return value
        if cls is float:
            return _encode_float(value)
        if cls is list:
            return [self.encode(v, depth + 1) for v in list.__iter__(value)]
        if cls is tuple:
            return {"t": [self.encode(v, depth + 1) for v in tuple.__iter__(value)]}
        if cls is dict:
            return {"d": [self._pair(kv, depth) for kv in dict.items(value)]}
        if cls is set:
            return {"s": [self.encode(v, depth + 1) for v in set.__iter__(value)]}
        if cls is frozenset:
            return {"f": [self.encode(v, depth + 1) for v in frozenset.__iter__(value)]}
        if cls is bytes:
            return {"b": bytes.hex(value)}
        if cls is complex:
            return {"c": [_encode_float(value.real), _encode_float(value.imag)]}
        # Subclasses of builtins (namedtuple, IntEnum, OrderedDict, Counter, ...) are read
        # through the builtin's own methods, so overridden dunders are never called.  The
        # real class is asked (`issubclass(type(v), ...)`), never `v.__class__`, which an
        # object can fake.
        if issubclass(cls, int):
            return self.encode(int.__int__(value), depth)
        if issubclass(cls, float):
            return _encode_float(float.__float__(value))
        if issubclass(cls, str):
            return str.__str__(value)
        if issubclass(cls, tuple):
            return {"t": [self.encode(v, depth + 1) for v in tuple.__iter__(value)]}
        if issubclass(cls, list):
            return [self.encode(v, depth + 1) for v in list.__iter__(value)]
        if issubclass(cls, dict):
            return {"d": [self._pair(kv, depth) for kv in dict.items(value)]}
        if issubclass(cls, frozenset):
            return {"f": [self.encode(v, depth + 1) for v in frozenset.__iter__(value)]}
        if issubclass(cls, set):
            return {"s": [self.encode(v, depth + 1) for v in set.__iter__(value)]}
        return opaque(value)

    def _pair(self, kv: tuple[Any, Any], depth: int) -> list[Any]:
        return [self.encode(kv[0], depth + 1), self.encode(kv[1], depth + 1)]


def opaque(value: Any) -> Any:
    """The encoding of an object that is not a plain builtin value."""
    try:
        truthy: bool | None = bool(value)
    except BaseException:  # the object's own __bool__/__len__ may raise anything
        truthy = None
    return {"o": [_safe_type_name(value), "", truthy]}


def digest(value: Any) -> bytes:
    """A sha256 of a builtin value that agrees across processes (set and dict order and hash
    seeds do not matter) and costs time linear in the value's size."""
    h = hashlib.sha256()
    _feed(h, value)
    return h.digest()


def _feed(h: Any, value: Any) -> None:
    cls = type(value)
    if value is None or cls is bool:
        h.update(b"N" if value is None else (b"T" if value else b"F"))
    elif cls is int:
        h.update(b"i" + int.to_bytes(value, (value.bit_length() + 8) // 8 or 1, "big", signed=True))
    elif cls is float:
        h.update(b"f" + float.hex(value).encode())
    elif cls is str:
        data = value.encode("utf-8", "surrogatepass")
        h.update(b"s%d:" % len(data) + data)
    elif cls is bytes:
        h.update(b"b%d:" % len(value) + value)
    elif cls is list or cls is tuple:
        h.update((b"l%d:" if cls is list else b"t%d:") % len(value))
        for item in value:
            _feed(h, item)
    elif cls is dict or cls is set or cls is frozenset:
        items = value.items() if cls is dict else value
        parts = sorted(digest(item) for item in items)
        h.update(b"%s%d:" % ({dict: b"d", set: b"e", frozenset: b"z"}[cls], len(parts)))
        for part in parts:
            h.update(part)
    else:
        h.update(b"o" + repr(value).encode("utf-8", "surrogatepass"))


def encode(value: Any) -> Any:
    """Encode a value into a JSON-able tree of exact builtins (raises EncodeBudget)."""
    return _Encoder().encode(value)


_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return Opaque("unhashable", repr(value)[:_REPR_CAP])
    return value


def decode(tree: Any) -> Any:
    """Decode an encoded tree into builtins.  Malformed input raises ValueError."""
    if tree is None or type(tree) in (int, str, bool, float):
        return tree
    if type(tree) is list:
        return [decode(v) for v in tree]
    if type(tree) is dict and len(tree) == 1:
        ((tag, body),) = tree.items()
        if tag == "t" and type(body) is list:
            return tuple(decode(v) for v in body)
        if tag == "d" and type(body) is list:
            out: dict[Any, Any] = {}
            for pair in body:
                if type(pair) is not list or len(pair) != 2:
                    raise ValueError("malformed dict entry")
                out[_hashable(decode(pair[0]))] = decode(pair[1])
            return out
        if tag == "s" and type(body) is list:
            return {_hashable(decode(v)) for v in body}
        if tag == "f" and type(body) is list:
            return frozenset(_hashable(decode(v)) for v in body)
        if tag == "b" and type(body) is str:
            return bytes.fromhex(body)
        if tag == "c" and type(body) is list and len(body) == 2:
            return complex(decode(body[0]), decode(body[1]))
        if tag == "x" and type(body) is str and body in _NONFINITE:
            return _NONFINITE[body]
        if tag == "h" and type(body) is str:
            return int(body, 16)
        if tag == "o" and type(body) is list and len(body) in (2, 3):
            truthy = body[2] if len(body) == 3 and type(body[2]) is bool else None
            return Opaque(str(body[0])[:_REPR_CAP], str(body[1])[:_REPR_CAP], truthy)
    raise ValueError(f"malformed encoded value: {str(tree)[:80]}")


class _Shower(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        # decimal conversion of a huge int is quadratic: describe it instead
        if x.bit_length() > 4000:
            digits = int(x.bit_length() * 0.30103) + 1
            return f"<int with about {digits} digits>"
        return super().repr_int(x, level)


_SHOW = _Shower()
_SHOW.maxlevel = 4
_SHOW.maxlist = _SHOW.maxtuple = _SHOW.maxset = _SHOW.maxfrozenset = _SHOW.maxdict = 24
_SHOW.maxstring = 240
_SHOW.maxlong = 120
_SHOW.maxother = 120


def show(value: Any, cap: int = 300) -> str:
    """A repr for people (feedback, reports), capped, in time proportional to the cap:
    a million-element list is not turned into text just to be cut."""
    try:
        text = repr(value) if _small(value) else _SHOW.repr(value)
    except Exception:  # decoded builtins always repr; belt and braces
        text = f"<{type(value).__name__}>"
    if len(text) > cap:
        text = text[: cap - 15] + f"... ({len(text)} chars)"
    return text


def _small(value: Any) -> bool:
    if isinstance(value, str | bytes):
        return len(value) <= 240
    if isinstance(value, int) and not isinstance(value, bool):
        return -HUGE_INT < value < HUGE_INT and value.bit_length() < 400
    if isinstance(value, list | tuple | set | frozenset | dict):
        return len(value) <= 24 and all(
            isinstance(v, int | float | bool | type(None))
            and (not isinstance(v, int) or v.bit_length() < 400)
            for v in (value.values() if isinstance(value, dict) else value)
        )
    return True
