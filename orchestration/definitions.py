"""The Zhili code location: ``dagster dev -m orchestration.definitions``.

One folder per source under ``defs/``, each with its own ``definitions.py``, merged here with the
resources every asset shares, as dagster-open-platform does:

* ``defs/feeds``: per feed (group = feed slug) ``raw/<feed>`` → ``normalised/<feed>`` with the
  blocking GX check ``gx_<feed>``, partitioned by delivered file, and ``landing_sensor``;
* ``defs/warehouse``: the dbt warehouse and ``serving/zhili``, ``warehouse_job`` and ``warehouse_sensor``.

Settings (landing, home) are resolved by the ``zhili`` resource when something runs, from
``ZHILI_LANDING``/``ZHILI_HOME``. Loading this module reads no environment; it only parses the dbt
project when its manifest is missing or stale.
"""

import dagster as dg

from orchestration.defs.feeds.definitions import feed_definitions
from orchestration.defs.resources import ZhiliResource
from orchestration.defs.warehouse.assets import dbt_resource
from orchestration.defs.warehouse.definitions import warehouse_definitions

__all__ = ["build_defs", "defs"]


def build_defs(zhili: ZhiliResource | None = None, *, with_warehouse: bool = True) -> dg.Definitions:
    """The code location; ``zhili`` fixes the settings (default: resolved from the environment when a run starts)."""
    return dg.Definitions.merge(
        feed_definitions(),
        warehouse_definitions(with_warehouse=with_warehouse),
        dg.Definitions(resources={"zhili": zhili or ZhiliResource(), "dbt": dbt_resource()}),
    )


defs = build_defs()
