"""Reading user files safely: every failure becomes a ``ValueError`` that names
the file (missing, not a regular file, unreadable, not UTF-8, malformed,
nested too deeply, numbers too large), never another exception or a hang."""

from __future__ import annotations

import json
import math
import os
import tomllib
from typing import Any

__all__ = ["read_text", "read_structured", "as_number"]

_MAX_BYTES = 64 * 2**20  # a settings file larger than this is not one


def read_text(path: str, what: str) -> str:
    """The UTF-8 text of a regular file (a byte-order mark is dropped).

    Raises:
        ValueError: missing, not a regular file (a folder, a pipe), unreadable,
            over 64 MiB or not UTF-8; the message names ``what`` and ``path``.
    """
    if not os.path.exists(path):
        raise ValueError(f"{what} '{path}' does not exist")
    if not os.path.isfile(path):
        raise ValueError(f"{what} '{path}' is not a regular file")
    try:
        if os.path.getsize(path) > _MAX_BYTES:
            raise ValueError(f"{what} '{path}' is larger than {_MAX_BYTES // 2**20} MiB")
        with open(path, "rb") as fh:
            raw = fh.read(_MAX_BYTES + 1)
    except OSError as err:
        raise ValueError(f"{what} '{path}' cannot be read: {err.strerror or err}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{what} '{path}' is not UTF-8 text: {err}") from None


def read_structured(path: str, what: str) -> dict[str, Any]:
    """A TOML (``.toml``) or JSON (``.json``) file's top-level table.

    Raises:
        ValueError: as ``read_text``, another extension, a syntax error, nesting
            too deep or a number out of range, or a top level that is not a
            table; the message names ``what`` and ``path``.
    """
    if not path.endswith((".toml", ".json")):
        raise ValueError(f"{what} '{path}' must end in .toml or .json")
    text = read_text(path, what)
    kind = "TOML" if path.endswith(".toml") else "JSON"
    try:
        data = tomllib.loads(text) if kind == "TOML" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{what} '{path}' is not valid {kind}: {err}") from None
    except RecursionError:
        raise ValueError(f"{what} '{path}' is nested too deeply to be a settings file") from None
    except ValueError as err:  # e.g. an integer beyond Python's digit limit
        raise ValueError(f"{what} '{path}' is not valid {kind}: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what} '{path}' must hold a table/object of keys")
    return data


def as_number(raw: Any, where: str, key: str, *, finite: bool = True) -> float:
    """``raw`` as a float, or a ``ValueError`` naming ``where`` and ``key``.

    Booleans, strings that are not numbers, lists and tables are refused;
    integers too large for a float and (with ``finite``) NaN and infinities too.
    """
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"{where}: key '{key}' must be a number, got {raw!r:.80}")
    try:
        value = float(raw)
    except (OverflowError, ValueError):
        raise ValueError(f"{where}: key '{key}' must be a number, got {str(raw)[:80]!r}") from None
    if finite and not math.isfinite(value):
        raise ValueError(f"{where}: key '{key}' must be a finite number, got {raw!r}")
    return value
