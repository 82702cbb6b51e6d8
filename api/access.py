"""Who may read which rep's list and which customer's order.

Two modes (``VISITRANK_READ_ACCESS``):

* ``key`` (default): the function key is the only gate, for a trusted CRM back end that
  serves its own users; every key holder reads every rep. Documented as such.
* ``principal``: the app runs behind App Service Authentication (Easy Auth, Entra ID), which
  passes the signed-in caller as the ``X-MS-CLIENT-PRINCIPAL`` header (base64 JSON of its
  claims; the platform strips any such header a client sends). A caller with the app role
  ``Visitrank.ReadAll`` (sales ops, the CRM's service principal) reads everything; any other
  reads only the reps named by its ``visitrank_rep`` claims (a rep: their own id; a manager:
  their team's), and the orders of the customers on those reps' lists. No principal: 401;
  a rep that is not the caller's: 403.

Pure: headers in, a decision out; the HTTP functions translate it into responses.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

PRINCIPAL_HEADER: Final = "x-ms-client-principal"
READ_ALL_ROLE: Final = "Visitrank.ReadAll"
REP_CLAIM: Final = "visitrank_rep"
MAX_REPS_CHECKED: Final = 50
"""Lists read to decide a customer's order for a caller without ReadAll (a rep, a manager's
team); larger scopes get the ReadAll role."""


class AccessDeniedError(Exception):
    """The caller may not read this; ``status`` is 401 (who are you?) or 403 (not yours)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Caller:
    """What a caller may read: everything, or the lists of ``reps``."""

    read_all: bool
    reps: frozenset[int]

    def may_read_rep(self, rep_id: int) -> bool:
        return self.read_all or rep_id in self.reps


UNRESTRICTED: Final = Caller(read_all=True, reps=frozenset())


def caller_of(headers: Mapping[str, str], mode: str) -> Caller:
    """The caller of a read request under ``mode`` (see the module docstring); AccessDeniedError
    (401) when ``principal`` mode finds no principal or one that cannot be read."""
    if mode == "key":
        return UNRESTRICTED
    raw = next((v for k, v in headers.items() if k.lower() == PRINCIPAL_HEADER), None)
    if not raw:
        raise AccessDeniedError("sign in: this API needs an authenticated caller", 401)
    try:
        principal = json.loads(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        raise AccessDeniedError("the caller's principal cannot be read", 401) from None
    if not isinstance(principal, dict):
        raise AccessDeniedError("the caller's principal cannot be read", 401)
    role_type = principal.get("role_typ") or "roles"
    claims = [c for c in principal.get("claims") or [] if isinstance(c, dict)]
    roles = {c.get("val") for c in claims if c.get("typ") in (role_type, "roles")}
    return Caller(read_all=READ_ALL_ROLE in roles, reps=frozenset(_rep_ids(claims)))


def check_rep(caller: Caller, rep_id: int) -> None:
    """AccessDeniedError (403) unless the caller may read ``rep_id``'s list."""
    if not caller.may_read_rep(rep_id):
        raise AccessDeniedError(f"rep {rep_id} is not among the caller's reps", 403)


def check_customer(caller: Caller, customer_id: int, lists: Iterable[Mapping[str, Any]]) -> None:
    """AccessDeniedError (403) unless the caller reads everything or ``customer_id`` is on one of
    ``lists`` (the caller's reps' documents of the week)."""
    if caller.read_all:
        return
    on_lists = {
        visit.get("customerId") for document in lists for visit in document.get("visits", [])
    }
    if customer_id not in on_lists:
        raise AccessDeniedError(f"customer {customer_id} is not on the caller's reps' lists", 403)


def _rep_ids(claims: list[dict[str, Any]]) -> Iterable[int]:
    for claim in claims:
        if claim.get("typ") == REP_CLAIM:
            try:
                yield int(str(claim.get("val")))
            except ValueError:
                continue
