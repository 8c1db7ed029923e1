"""The fuel scenario as the benchmarks drive it: a station, drivers with mandates, fuelings.

Every fueling it builds succeeds and, by day, is scored ``allow``: no plate fuels more than
:data:`FUELINGS_PER_PLATE` times (a fourth in one day is ``fuel_impossible_volume``, a review),
and each driver is funded for all of its plates' fuelings. Between 00:00 and 05:00 Asia/Shanghai
the station's tenth and later payments are reviewed (``night_burst``): the benchmarks run the
gateway at 12:00 Shanghai time unless told otherwise (``--at``).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench._setup import Bench

BASE = "/v1/scenarios/fuel"
PRICE = 750  # fen per litre
FUELINGS_PER_PLATE = 3
# One plate per driver: each payment locks its payer's account until commit, and a driver with
# many plates would make concurrent requests queue on one account row, which no real forecourt
# does (one driver, twelve pumps at once) and the minimal-write baseline never meets.
PLATES_PER_DRIVER = 1
MAX_FUELING = 90_000  # fen: 9 litres at most, well inside a Class II account's daily cap


async def open_station(bench: Bench) -> str:
    station = await bench.call(
        "POST", f"{BASE}/stations", {"name": "Bench Station", "address": "1 Loop Rd", "pumps": 24}
    )
    return str(station["id"])


async def add_plates(
    bench: Bench, station: str, count: int, first: int = 0
) -> tuple[list[str], list[str]]:
    """``count`` plates numbered from ``first``, on drivers opened by an account batch and funded
    for :data:`FUELINGS_PER_PLATE` fuelings per plate: ``(drivers, plates)``."""
    drivers = await bench.open_customers(
        "fuel", -(-count // PLATES_PER_DRIVER), seed=secrets.randbits(32), sub_channel=station
    )
    plates = [f"京B{first + n:05d}" for n in range(count)]
    for n, plate in enumerate(plates):
        await bench.call(
            "POST",
            f"{BASE}/mandates",
            {"customer_id": drivers[n // PLATES_PER_DRIVER], "plate_no": plate},
        )
    admin = await bench.admin()
    for driver in drivers:
        await bench.fund(driver, PLATES_PER_DRIVER * FUELINGS_PER_PLATE * MAX_FUELING, admin)
    return drivers, plates


def fueling(station: str, plate: str) -> dict[str, Any]:
    """A fueling of 5–9 litres at a random pump, its amount rounded half up to the fen."""
    litres = 5_000 + secrets.randbelow(4_000)
    return {
        "station_id": station,
        "plate_no": plate,
        "pump_no": 1 + secrets.randbelow(24),
        "fuel_grade": "92",
        "litres_ml": litres,
        "unit_price": PRICE,
        "amount": (litres * PRICE * 2 + 1000) // 2000,
        "context": {"device_id": f"pos-{secrets.token_hex(4)}"},
    }
