"""Less of GX's fixed cost per run, the same results: two pieces of work GX repeats within one run, done once.

A small file's GX run costs ~0.5-0.8 s whatever its row count (issues 22/23: a day's service list pays it
every day). Most of it is Python that builds each expectation's metric graph, and two repetitions stand out:

* ``Expectation.configuration`` is a property that builds a fresh ``ExpectationConfiguration`` (a pydantic
  ``dict()`` of the expectation, then validated again) on every read, and GX reads it once per key while
  collecting an expectation's domain, success and runtime keyword arguments: ~100 builds per expectation
  per run, a third of a small file's run. Within one call of those collecting methods nothing changes the
  expectation, so the first build serves the call's later reads (:func:`_reads_configuration_once`); a
  call after it builds afresh, as before.
* A ``row_condition`` filters the batch with ``DataFrame.query`` for every metric on its domain, ~10 ms of
  pandas' expression parser each time on a small frame. Within one run (:func:`one_run`) the same batch and
  condition give the same rows; each caller gets its own shallow copy of the first filtering (pandas'
  copy-on-write: a caller that changes it changes its copy only). Only for a small batch
  (:data:`KEEP_FILTERED_ROWS`).

Neither changes what is computed, which expectations run or how a result is judged: the suites stay GX
suites run by GX. :func:`install` patches GX 1.x's pandas engine and expectation base class in this
process, once; a GX whose methods are not where this module expects them is left as it is.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["install", "one_run"]

logger = logging.getLogger(__name__)

_local = threading.local()
_installed = False


def install() -> bool:
    """Patch GX in this process (idempotent). False when GX's internals are not the ones patched here."""
    global _installed
    if _installed:
        return True
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine
    from great_expectations.expectations.expectation import Expectation

    configuration = Expectation.__dict__.get("configuration")
    methods = ("_get_domain_kwargs", "_get_success_kwargs", "_get_success_kwarg", "_get_runtime_kwargs")
    if (
        not isinstance(configuration, property)
        or configuration.fget is None
        or not all(callable(Expectation.__dict__.get(m)) for m in methods)
        or not callable(PandasExecutionEngine.__dict__.get("_apply_row_condition_filter"))
    ):
        logger.warning("GX's internals are not the ones expected; its runs keep their full fixed cost")
        return False
    Expectation.configuration = property(_configuration_read_once(configuration.fget), doc=configuration.__doc__)
    for name in methods:
        setattr(Expectation, name, _reads_configuration_once(Expectation.__dict__[name]))
    PandasExecutionEngine._apply_row_condition_filter = _filter_once_per_run(
        PandasExecutionEngine.__dict__["_apply_row_condition_filter"]
    )
    _installed = True
    return True


# --------------------------------------------------------------------------- Expectation.configuration


def _configuration_read_once(build):
    @functools.wraps(build)
    def configuration(self):
        reads = getattr(_local, "configurations", None)
        if reads is None:
            return build(self)
        hit = reads.get(id(self))
        if hit is None or hit[0] is not self:
            hit = reads[id(self)] = (self, build(self))
        return hit[1]

    return configuration


def _reads_configuration_once(method):
    """``method`` with one build of each expectation's configuration for the whole call (nested calls too)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if getattr(_local, "configurations", None) is not None:
            return method(self, *args, **kwargs)
        _local.configurations = {}
        try:
            return method(self, *args, **kwargs)
        finally:
            _local.configurations = None

    return wrapper


# --------------------------------------------------------------------------- row conditions


@contextmanager
def one_run() -> Iterator[None]:
    """The scope of one GX run: its row-condition filterings are kept until it ends."""
    previous = getattr(_local, "filtered", None)
    _local.filtered = {}
    try:
        yield
    finally:
        _local.filtered = previous


def _condition_key(row_condition: Any, domain_kwargs: dict) -> tuple[str, str, str] | None:
    if isinstance(row_condition, (str, dict)) or hasattr(row_condition, "json"):
        text = row_condition.json() if hasattr(row_condition, "json") else repr(row_condition)
        return type(row_condition).__name__, text, repr(domain_kwargs.get("condition_parser"))
    return None


#: Filterings are kept for batches of at most this many rows: a small file's run is where the parser's fixed
#: cost tells, and a register's filterings, kept side by side, would cost memory instead.
KEEP_FILTERED_ROWS = 50_000


def _filter_once_per_run(apply):
    @functools.wraps(apply)
    def _apply_row_condition_filter(self, data, row_condition, domain_kwargs):
        filtered = getattr(_local, "filtered", None)
        small = filtered is not None and len(data) <= KEEP_FILTERED_ROWS
        key = _condition_key(row_condition, domain_kwargs) if small else None
        if key is None:
            return apply(self, data, row_condition, domain_kwargs)
        hit = filtered.get((id(data), *key))
        if hit is None or hit[0] is not data:
            hit = filtered[(id(data), *key)] = (data, apply(self, data, row_condition, domain_kwargs))
        return hit[1].copy(deep=False)

    return _apply_row_condition_filter
