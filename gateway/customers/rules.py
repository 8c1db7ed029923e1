"""Row rules for account opening (DESIGN §6), shared by single openings and batches.

Resident IDs are checked with python-stdnum (GB 11643: ISO 7064 MOD 11-2 and a valid birth date);
a person under 16 on the day of opening (Asia/Shanghai) needs a guardian, which remote opening
cannot verify, so the row is refused.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date

from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from gateway.clock import business_date_of, now

MINOR_AGE = 16
# Reads that show a customer flag one under 18 as a minor (ADR 0007).
ADULT_AGE = 18
MOBILE = re.compile(r"^1[3-9]\d{9}$")
# Han characters (with the middle dot of minority names) or Latin letters with spaces.
NAME = re.compile(r"^(?:[\u3400-\u9fff\u00b7]{2,30}|[A-Za-z][A-Za-z .'-]{1,59})$")


@dataclass(frozen=True, slots=True)
class RowError:
    code: str
    message: str


def today() -> date:
    """Today's business date (Asia/Shanghai)."""
    return business_date_of(now())


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def check_identity(name: str, id_number: str, phone: str, today: date) -> RowError | None:
    """The first rule a row breaks, or ``None``; ``today`` is the opening's business date."""
    checked = checked_birth_date(name, id_number, phone, today)
    return checked if isinstance(checked, RowError) else None


def checked_birth_date(name: str, id_number: str, phone: str, today: date) -> RowError | date:
    """:func:`check_identity`, answering the applicant's birth date when every rule holds."""
    if not NAME.match(name.strip()):
        return RowError("name_invalid", "The name must be 2-30 Chinese characters or a Latin name.")
    birth = valid_birth_date(id_number)
    if birth is None:
        return RowError(
            "id_number_invalid", "The resident ID number fails its checksum or birth date."
        )
    if birth > today:
        return RowError(
            "id_number_invalid", "The resident ID number has a birth date in the future."
        )
    if age_on(birth, today) < MINOR_AGE:
        return RowError(
            "minor_requires_guardian", "Applicants under 16 must open in a branch with a guardian."
        )
    if not MOBILE.match(phone.strip()):
        return RowError("phone_invalid", "The phone must be a mainland mobile number.")
    return birth


_COMPACT_RIC = re.compile(r"^\d{17}[\dX]$")


def valid_birth_date(id_number: str) -> date | None:
    """The birth date of a valid resident ID, or ``None``: exactly ``stdnum.cn.ric.validate``.

    stdnum re-cleans the number five times and scans its region database on every call (about
    120 µs, the largest cost of a batch row), so a number already in compact form is checked
    here with stdnum's own check digit, and the region lookup — which depends only on the first
    six digits and the birth year — is cached.
    """
    number = id_number.strip().upper()
    if not _COMPACT_RIC.match(number):
        try:
            number = ric.validate(id_number)
        except (StdnumError, KeyError):
            return None
        return ric.get_birth_date(number)
    if number[-1] != ric.calc_check_digit(number):
        return None
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None
    return birth if _region_known(number[:6], birth.year) else None


@functools.lru_cache(maxsize=1 << 16)
def _region_known(region: str, year: int) -> bool:
    """Whether the region code was assigned in ``year`` (stdnum reads only these two parts)."""
    try:
        ric.get_birth_place(f"{region}{year:04d}01010000")
    except (StdnumError, KeyError):  # stdnum raises KeyError for a code with no county entry
        return False
    return True


def is_minor(birth: date, day: date) -> bool:
    return age_on(birth, day) < ADULT_AGE


def birth_date_of(id_number: str) -> date:
    return ric.get_birth_date(ric.compact(id_number))
