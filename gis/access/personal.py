"""Personal data (the Personal Information Protection Law): a caller without ``personal:read`` on
an object sees the people in it masked: the citizen's contact on a case (张**, 138****5678,
z***@example.cn) and gridworkers' names in a case."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from gis.access.principal import Principal
from gis.errors import InvalidInput

PERMISSION = "personal:read"
#: a phone number as people write it (the same rule for accounts and citizens' contacts)
PHONE = re.compile(r"^[0-9+() -]{3,32}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
NAME_MAX = 64


def check_phone(phone: str | None, field: str = "phone") -> str | None:
    if phone is not None and not PHONE.match(phone):
        raise InvalidInput(f"bad phone number {phone[:40]!r}", field=field, allowed="3-32 digits, + ( ) - and spaces")
    return phone


def contact(name: str | None, phone: str | None, email: str | None) -> dict[str, str | None] | None:
    """A citizen's contact, checked (blank parts dropped); None when there is none."""
    name, phone, email = ((v.strip() or None) if isinstance(v, str) else None for v in (name, phone, email))
    if name is not None and len(name) > NAME_MAX:
        raise InvalidInput(f"the contact's name has more than {NAME_MAX} characters", field="contact.name")
    check_phone(phone, "contact.phone")
    if email is not None and (len(email) > 254 or not EMAIL.match(email)):
        raise InvalidInput(f"bad e-mail address {email[:60]!r}", field="contact.email", allowed="name@domain")
    return None if name is phone is email is None else {"name": name, "phone": phone, "email": email}


def masked_contact(found: dict[str, Any] | None) -> dict[str, Any] | None:
    """A contact as a caller without ``personal:read`` sees it."""
    if not found:
        return found
    return {"name": mask_name(found["name"]), "phone": mask_phone(found["phone"]), "email": mask_email(found["email"])}


def sees_personal(who: Principal | None, codes: Iterable[str | None], unit: str | None = None) -> bool:
    """May ``who`` (None: the local operator) see in full the people of an object lying in the grids
    ``codes`` (its chain) and dispatched to ``unit``?"""
    if who is None:
        return True
    if any(who.covers(PERMISSION, c) for c in codes if c):
        return True
    return unit is not None and unit in who.units_for(PERMISSION)


def mask_name(name: str | None) -> str | None:
    """The first character kept, the rest starred; a one-character name all starred.

    >>> mask_name("张三丰"), mask_name("Li"), mask_name("张"), mask_name(""), mask_name(None)
    ('张**', 'L*', '*', '', None)
    """
    if not name:
        return name
    return "*" if len(name) == 1 else name[0] + "*" * (len(name) - 1)


def mask_phone(phone: str | None) -> str | None:
    """Four digits hidden (the 4th to 7th from the end): at least half of any number kept short.

    >>> mask_phone("13812345678"), mask_phone("+86 138 1234 5678"), mask_phone("62345678"), mask_phone("12345")
    ('138****5678', '+86 138****5678', '****5678', '*****')
    """
    if phone is None:
        return None
    digits = [i for i, ch in enumerate(phone) if ch.isdigit()]
    if len(digits) < 8:
        return "*" * len(phone)
    hidden = set(digits[-8:-4])
    out = "".join("*" if i in hidden else ch for i, ch in enumerate(phone))
    return re.sub(r"\s*(\*{4})\s*", r"\1", out)  # "138 **** 5678" reads as the usual 138****5678


def mask_email(email: str | None) -> str | None:
    """The first character of the mailbox and the domain kept: zhang@example.cn → z***@example.cn."""
    if not email or "@" not in email:
        return email
    box, _, domain = email.rpartition("@")
    return f"{box[:1]}***@{domain}"
