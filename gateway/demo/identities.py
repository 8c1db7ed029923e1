"""Generated identities with valid checksums for the demo, the benchmarks and the tests: never
real people or companies. Resident IDs use the 110105 area code and a random sequence number;
USCCs are checksummed by python-stdnum, as the gateway validates them."""

from __future__ import annotations

import random
from datetime import date, timedelta

from joserfc.jwk import ECKey, OKPKey, RSAKey
from stdnum.cn import ric, uscc

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def fake_uscc(rng: random.Random) -> str:
    body = "91" + "110108" + "".join(rng.choice(_USCC_CHARS) for _ in range(9))
    return body + uscc.calc_check_digit(body)


def fake_resident_id(rng: random.Random, birth: date | None = None) -> str:
    birth = birth or date(1970, 1, 1) + timedelta(days=rng.randrange(0, 365 * 35))
    body = "110105" + birth.strftime("%Y%m%d") + f"{rng.randrange(0, 1000):03d}"
    return body + ric.calc_check_digit(body + "0")  # it reads all but the last character


def fake_mobile(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))


def fake_account_no(rng: random.Random) -> str:
    return "6222" + "".join(rng.choice("0123456789") for _ in range(15))


def keypair(
    kind: str = "ed25519", kid: str | None = None
) -> tuple[dict[str, object], dict[str, object]]:
    """A (private JWK, public JWK) pair with a ``kid``."""
    key: OKPKey | ECKey | RSAKey
    if kind == "ed25519":
        key = OKPKey.generate_key("Ed25519")
    elif kind == "p256":
        key = ECKey.generate_key("P-256")
    elif kind == "rsa":
        key = RSAKey.generate_key(2048)
    else:
        raise ValueError(kind)
    kid = kid or key.thumbprint()
    return {**key.as_dict(private=True), "kid": kid}, {**key.as_dict(private=False), "kid": kid}
