"""Generated test identities with valid checksums (never real people or companies)."""

from gateway.demo.identities import (
    fake_account_no,
    fake_mobile,
    fake_resident_id,
    fake_uscc,
    keypair,
)

__all__ = ["fake_account_no", "fake_mobile", "fake_resident_id", "fake_uscc", "keypair"]
