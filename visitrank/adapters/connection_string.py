"""ODBC connection strings: their attributes, and the same text with every secret masked.

Kept apart from the ODBC readers so that showing a connection string (an error about
``--source``) does not load the ODBC driver manager: the local commands run on a machine
without unixODBC as long as they read files.
"""

from __future__ import annotations

import re
from typing import Final

MASK: Final = "***"
SECRET_WORDS: Final = ("pwd", "password", "key", "secret", "token")

_BRACED: Final = re.compile(r"\s*\{(?:[^}]|\}\})*(?:\}|$)")
"""An ODBC attribute value in braces (may hold ``;``; ``}}`` is a literal ``}``)."""


def attributes(connection_string: str) -> list[tuple[str, str | None]]:
    """The ``(name, value)`` attributes of an ODBC connection string, in order, so that
    ``';'.join(f'{name}={value}')`` gives the string back (value None: no ``=``). A braced
    value (``PWD={a;b}``) is one value."""
    parts: list[tuple[str, str | None]] = []
    text, at = connection_string, 0
    while at <= len(text):
        equals, semicolon = text.find("=", at), text.find(";", at)
        if equals < 0 or 0 <= semicolon < equals:
            end = len(text) if semicolon < 0 else semicolon
            parts.append((text[at:end], None))
        else:
            braced = _BRACED.match(text, equals + 1)
            start = braced.end() if braced else equals + 1
            semicolon = text.find(";", start)
            end = len(text) if semicolon < 0 else semicolon
            parts.append((text[at:equals], text[equals + 1 : end]))
        at = end + 1
    return parts


def is_secret(name: str) -> bool:
    """True for an attribute whose value must never be shown (PWD, Password, AccountKey,
    any name with key, secret or token in it)."""
    folded = name.strip().casefold()
    return any(word in folded for word in SECRET_WORDS)


def secret_values(connection_string: str) -> list[str]:
    """The secret attributes' values (as written and without braces), longest first."""
    found: set[str] = set()
    for name, value in attributes(connection_string):
        if value is not None and is_secret(name) and value.strip():
            found.add(value.strip())
            if value.strip().startswith("{"):
                found.add(value.strip()[1:].removesuffix("}").replace("}}", "}"))
    return sorted((value for value in found if value), key=len, reverse=True)


def mask_secrets(connection_string: str) -> str:
    """``connection_string`` with the value of every secret attribute replaced by ``***``:
    ``Driver=X;UID=u;PWD=secret`` -> ``Driver=X;UID=u;PWD=***``."""
    return ";".join(
        name if value is None else f"{name}={MASK if is_secret(name) and value.strip() else value}"
        for name, value in attributes(connection_string)
    )
