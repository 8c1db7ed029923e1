"""Chinese motor-vehicle plates (GA 36-2018), as a fuel mandate binds them.

Ordinary plates are 7 characters: a province abbreviation, the issuing authority's letter and a
5-character serial of letters and digits. New-energy plates are 8: the province, the letter and
a 6-character serial that either starts with D or F (small vehicles: D battery-electric, F other
new energy; then a letter or digit and four digits) or ends with D or F after five digits
(large vehicles). Letters I and O are never used, so they cannot be mistaken for 1 and 0.
"""

from __future__ import annotations

import re

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_LETTER = "[A-HJ-NP-Z]"
_ALNUM = "[A-HJ-NP-Z0-9]"
_PLATE = re.compile(
    rf"^[{PROVINCES}]{_LETTER}"
    rf"(?:{_ALNUM}{{5}}"  # ordinary: 7 characters
    rf"|[DF]{_ALNUM}\d{{4}}"  # small new-energy: 8 characters
    rf"|\d{{5}}[DF])$"  # large new-energy: 8 characters
)


def normalise_plate(raw: str) -> str | None:
    """The plate in its canonical form (trimmed, Latin letters upper-case), or None if invalid."""
    plate = raw.strip().upper()
    return plate if _PLATE.match(plate) else None


def is_new_energy(plate: str) -> bool:
    return len(plate) == 8
