"""People for account-opening tests: generated identities with valid checksums."""

from __future__ import annotations

import random
from typing import Any

from tests.factories import fake_mobile, fake_resident_id


def person(rng: random.Random, n: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "external_ref": f"owner-{n}",
        "name": "张三",
        "id_number": fake_resident_id(rng),
        "phone": fake_mobile(rng),
    }
    return row | overrides


def people(seed: int, count: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [person(rng, n) for n in range(1, count + 1)]
