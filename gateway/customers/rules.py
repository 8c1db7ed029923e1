"""Row rules for account opening (DESIGN §6), shared by single openings and batches.

Resident IDs are checked with python-stdnum (GB 11643: ISO 7064 MOD 11-2 and a valid birth date);
a person under 16 on the day of opening (Asia/Shanghai) needs a guardian, which remote opening
cannot verify, so the row is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from gateway.clock import SHANGHAI, business_date_of

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
    return business_date_of(datetime.now(SHANGHAI))


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def check_identity(name: str, id_number: str, phone: str, today: date) -> RowError | None:
    """The first rule a row breaks, or ``None``; ``today`` is the opening's business date."""
    if not NAME.match(name.strip()):
        return RowError("name_invalid", "The name must be 2-30 Chinese characters or a Latin name.")
    try:
        compact = ric.validate(id_number)
    except StdnumError:
        return RowError(
            "id_number_invalid", "The resident ID number fails its checksum or birth date."
        )
    birth = ric.get_birth_date(compact)
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
    return None


def is_minor(birth: date, day: date) -> bool:
    return age_on(birth, day) < ADULT_AGE


def birth_date_of(id_number: str) -> date:
    return ric.get_birth_date(ric.compact(id_number))
