"""Keyed pseudonyms for people: HMAC-SHA256 of the normalised ID number.

A plain hash of an ID number is not a pseudonym: ID numbers are guessable
(region, birth date, sequence, check), so anyone could hash them all. The key
lives outside the repository, in the state folder (created on first use with
mode 0600) or wherever the deployment points ``ZHILI_SECRET_FILE``.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
from pathlib import Path

import polars as pl

__all__ = ["load_or_create_key", "person_key"]

_KEY_BYTES = 32


def load_or_create_key(path: Path) -> bytes:
    """Read the HMAC key at ``path``, creating it (0600) when it does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(_KEY_BYTES) + "\n")
    # undecodable bytes fall through to the "not hex" message below, not a codec error
    text = path.read_bytes().decode("utf-8", errors="replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError as err:
        raise ValueError(f"the pseudonym key {path} should be hex text, but it is not; restore it from backup") from err
    if len(key) < 16:
        raise ValueError(
            f"the pseudonym key {path} is {len(key)} bytes, but at least 16 are needed; restore it from backup"
        )
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise PermissionError(
            f"the pseudonym key {path} must be readable by its owner only (mode 0600), but its mode "
            f"is {mode:o}; run: chmod 600 {path}"
        )
    return key


def _encode(digest: bytes) -> str:
    # base32 of 128 bits: 26 characters, mostly letters, so a key never looks like an ID or phone number
    return base64.b32encode(digest[:16]).decode().rstrip("=").lower()


def person_key(ids: pl.Expr, key: bytes) -> pl.Expr:
    """``ids`` (normalised 18-character ID numbers) -> 26-character keyed pseudonyms; null stays null."""

    def _batch(series: pl.Series) -> pl.Series:
        uniques = series.drop_nulls().unique()
        digests = [_encode(hmac.digest(key, value.encode(), "sha256")) for value in uniques.to_list()]
        lookup = pl.DataFrame({"v": uniques, "k": digests}, schema={"v": pl.String, "k": pl.String})
        return series.to_frame("v").join(lookup, on="v", how="left", maintain_order="left")["k"]

    return ids.map_batches(_batch, return_dtype=pl.String)
