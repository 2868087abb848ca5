"""The one exception hierarchy for reading departmental feeds.

Every error names the feed and the delivered file and carries a short
``reason`` code that callers (and the quarantine) can match on.  Messages say
what was found, what was expected and how to fix it; they never carry cell
values that may be personal (IDs, names, phones): column names, counts, row
numbers and byte offsets only.
"""

from __future__ import annotations

__all__ = [
    "FeedError",
    "FeedLandingError",
    "FeedEncodingError",
    "FeedFormatError",
    "FeedSchemaError",
]


class FeedError(Exception):
    """A delivered feed file (or its flag) that the warehouse cannot take.

    ``feed`` is the feed slug (None when the folder is not a known feed),
    ``file`` the file as ``feed/folder/name`` or its name, ``reason`` a short code.
    """

    #: reason codes this class may carry; subclasses narrow it
    reasons: frozenset[str] = frozenset()

    def __init__(self, message: str, *, feed: str | None, file: str | None, reason: str) -> None:
        if self.reasons and reason not in self.reasons:
            raise ValueError(f"{type(self).__name__}: reason={reason!r} should be one of {sorted(self.reasons)}")
        super().__init__(message)
        self.message = message
        self.feed = feed
        self.file = file
        self.reason = reason

    def __reduce__(self):  # keep keyword attributes across pickling (Dagster subprocesses)
        return (_rebuild, (type(self), self.message, self.feed, self.file, self.reason))


def _rebuild(cls: type[FeedError], message: str, feed: str | None, file: str | None, reason: str) -> FeedError:
    return cls(message, feed=feed, file=file, reason=reason)


class FeedLandingError(FeedError):
    """The landing zone: unsafe names, unreadable flags, flag/file disagreement, unknown files."""

    reasons = frozenset({"unsafe_name", "flag_unreadable", "flag_rows_mismatch", "flag_md5_mismatch", "unknown_file"})


class FeedEncodingError(FeedError):
    """Bytes that decode in none of the accepted encodings."""

    reasons = frozenset({"undecodable"})


class FeedFormatError(FeedError):
    """A file that cannot be parsed at all in its format (corrupt workbook, invalid GeoJSON)."""

    reasons = frozenset({"unreadable"})


class FeedSchemaError(FeedError):
    """A file whose header lacks required columns."""

    reasons = frozenset({"missing_required_columns"})
