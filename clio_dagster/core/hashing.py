"""Keyed and content hashes: user ids never stored in the clear; cache keys from content."""

from __future__ import annotations

import hashlib
import hmac


def hash_user_id(secret: bytes, user_id: str) -> str:
    """HMAC-SHA256 of a user id: stable per secret, not reversible without it."""
    return "u_" + hmac.new(secret, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def anonymous_user_key(secret: bytes, conversation_id: str) -> str:
    """A record without a user id counts as its own user (the conservative choice for thresholds)."""
    return "a_" + hmac.new(secret, b"anon:" + conversation_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
