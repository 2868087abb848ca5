"""Digests of the code that made a file: when reusing earlier output could give other values.

Owns the package-version digest (:func:`update_with_versions`, shared with the
warehouse's dbt project digest) and the normaliser's fingerprint
(:func:`normaliser_fingerprint`), which a register snapshot's reuse of the
previous snapshot's rows is keyed by.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

__all__ = ["NORMALISING_MODULES", "NORMALISING_PACKAGES", "normaliser_fingerprint", "update_with_versions"]

#: What a normalised row is a function of besides its cells: this code, its libraries, the key.
NORMALISING_MODULES = ("normalise", "fields", "pseudonym", "schemas", "feeds", "placement", "addresses")
NORMALISING_PACKAGES = ("polars", "opencc", "python-stdnum")


def update_with_versions(digest, packages: Iterable[str]) -> None:
    """Feed ``package==version`` (or ``package absent``) of each package into ``digest``, in the order given."""
    for package in packages:
        try:
            digest.update(f"{package}=={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} absent".encode())


@functools.cache
def _code_digest() -> bytes:
    # once per process: the code this process runs, even if the files change under it
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for module in NORMALISING_MODULES:
        digest.update((here / f"{module}.py").read_bytes())
    update_with_versions(digest, NORMALISING_PACKAGES)
    return digest.digest()


def normaliser_fingerprint(key: bytes) -> str:
    """A digest that changes whenever reusing an earlier file's normalised rows could give other values."""
    # the pseudonym key enters as a keyed digest, so the fingerprint tells nothing about it
    return hashlib.sha256(_code_digest() + hmac.digest(key, b"zhili normaliser fingerprint", "sha256")).hexdigest()
