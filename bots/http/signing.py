"""The shared-secret signature of `POST /v1/events`.

The sender puts the Unix time in `X-Pmdesk-Timestamp` and
`sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` in
`X-Pmdesk-Signature`, keyed with `PMDESK_WEBHOOK_SECRET`. Signing the
timestamp with the body lets the receiver refuse a captured request replayed
later: a timestamp more than `TOLERANCE` seconds away from its clock, in
either direction, is refused even when the signature is right.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hashlib import _Hash

TIMESTAMP_HEADER = "X-Pmdesk-Timestamp"
SIGNATURE_HEADER = "X-Pmdesk-Signature"
PREFIX = "sha256="
# Five minutes either way: room for clocks that drift, little for a replay.
TOLERANCE = 300.0


class SignatureError(Exception):
    """Why a request's signature or timestamp is refused, in one line."""


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The `X-Pmdesk-Signature` value of `body` sent at `timestamp`."""
    inner, outer = _keyed(secret)
    inner = inner.copy()
    inner.update(str(timestamp).encode("ascii"))
    inner.update(b".")
    inner.update(body)
    outer = outer.copy()
    outer.update(inner.digest())
    return PREFIX + outer.hexdigest()


# SHA-256's block, and the pads of HMAC's inner and outer keys (RFC 2104).
_BLOCK = 64
_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))


@functools.lru_cache(maxsize=4)
def _keyed(secret: str) -> tuple[_Hash, _Hash]:
    """HMAC-SHA256 keyed with `secret`, as its two hashes having taken their padded keys.

    The same HMAC as hmac.new(key, message, sha256): each request copies
    these two states instead of keying HMAC afresh, which cost the intake
    twice as much CPU as the hashing of a one-event body itself.
    """
    key = secret.encode("utf-8")
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return hashlib.sha256(key.translate(_INNER_PAD)), hashlib.sha256(key.translate(_OUTER_PAD))


def signed_headers(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Both headers a sender adds (for clients and the load generator)."""
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def check_timestamp(value: str | None, now: float, tolerance: float = TOLERANCE) -> int:
    """The header's Unix time, if present, a whole number, and within `tolerance` of `now`."""
    if not value:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header (Unix time in seconds)")
    try:
        timestamp = int(value.strip())
    except ValueError:
        raise SignatureError(
            f"{TIMESTAMP_HEADER} must be Unix time in whole seconds, not {value[:40]!r}"
        ) from None
    skew = timestamp - now
    if abs(skew) > tolerance:
        where = "in the future" if skew > 0 else "old"
        raise SignatureError(
            f"{TIMESTAMP_HEADER} is {abs(skew):.0f} s {where} (more than {tolerance:.0f} s "
            "away from the server's clock): refused as a possible replay"
        )
    return timestamp


def check_signature(secret: str, timestamp: str, body: bytes, value: str | None) -> None:
    """Compare the header with the expected signature in constant time."""
    if not value:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header ({PREFIX}<hex HMAC-SHA256>)")
    expected = sign(secret, timestamp.strip(), body)
    if not hmac.compare_digest(expected.encode("ascii"), value.strip().lower().encode("utf-8")):
        raise SignatureError(
            f"{SIGNATURE_HEADER} does not match: sign '<timestamp>.<raw body>' with "
            "HMAC-SHA256 under the shared secret"
        )
