"""Opaque, prefixed, time-sortable identifiers (DESIGN §3): ``<prefix>_<26 chars>``.

The 26 characters are a ULID (48-bit millisecond timestamp + 80 random bits, Crockford base32), so
ids sort by creation time and cursor pagination can order by id alone. Within one process, ids made
in the same millisecond increment the random part (monotonic ULIDs), so they sort in creation order.
"""

from __future__ import annotations

import secrets
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
PREFIXES = frozenset(
    {
        "pap",
        "ptn",
        "acb",
        "cus",
        "txn",
        "cas",
        "stl",
        "evt",
        "rcn",
        "job",
        "usr",
        "aud",
        "cmp",
        "ctr",
        "srn",
        "rcx",
        "key",
        "whd",
        "idk",
        "jnl",
        "cli",
        "tch",
        "cmt",
        "bil",
        "stn",
        "mdt",
        "svc",
        "utp",  # utilities payment (the biller writes off under it)
        "uag",  # utilities auto-debit agreement
        "usd",  # utilities scheduled (noticed) debit
        "rev",
        "rdc",
        "rsz",
        "rac",
        "ccd",
        "cmr",
        "inc",
        "pev",
    }
)


_lock = threading.Lock()
_last = [0, 0]


def _next_value() -> int:
    ms = time.time_ns() // 1_000_000
    with _lock:
        if ms <= _last[0]:
            ms, rand = _last[0], _last[1] + 1
        else:
            rand = secrets.randbits(79)  # headroom so increments never overflow the 80 bits
        _last[0], _last[1] = ms, rand
    return ms << 80 | rand


# Every pair of digits, so an id is 13 look-ups of 10 bits, not 26 shifts of 5 (a batch chunk
# makes a few ids per row).
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_SHIFTS = tuple(range(120, -1, -10))  # 130 bits, most significant pair first


def new_id(prefix: str) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    value = _next_value()
    return f"{prefix}_{''.join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])}"


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and len(value) == len(prefix) + 27
