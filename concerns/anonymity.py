"""Keyed hashes and receipts: the only derived values anonymous work may keep.

The key is ANONYMITY_KEY from the environment. Without it, a copy of the database
cannot tell whose vote is whose, nor turn a stored receipt hash back into a receipt.
"""

import hashlib
import hmac
import secrets

from django.conf import settings
from django.utils import timezone

# Crockford's base32: no I, L, O or U, so a receipt survives being read aloud or
# written down by hand.
RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECEIPT_LENGTH = 28  # 28 symbols x 5 bits = 140 bits of entropy
RECEIPT_GROUP = 4
_RECEIPT_CONFUSABLES = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


def keyed_hash(purpose: str, message: str) -> str:
    key = f"{purpose}:{settings.ANONYMITY_KEY}".encode()
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def voter_hash(*, person_id: int, concern_id: object) -> str:
    return keyed_hash("vote", f"{person_id}:{concern_id}")


def carried_vote_hash(*, vote_hash: str, concern_id: object) -> str:
    """A stable stand-in hash for a merged vote whose voter no longer has an account."""
    return keyed_hash("carried-vote", f"{vote_hash}:{concern_id}")


def receipt_new() -> str:
    symbols = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_LENGTH))
    return receipt_format(symbols)


def receipt_format(symbols: str) -> str:
    return "-".join(symbols[i : i + RECEIPT_GROUP] for i in range(0, len(symbols), RECEIPT_GROUP))


def receipt_normalise(text: str) -> str:
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    return cleaned.translate(_RECEIPT_CONFUSABLES)


def receipt_hash(receipt: str) -> str:
    """Hashes whatever was typed, well formed or not, so that every wrong receipt
    costs the same work and gets the same answer."""
    return keyed_hash("receipt", receipt_normalise(receipt))


def coarse_today():
    """The date stored for anonymous work: never the time of day."""
    return timezone.localdate()
