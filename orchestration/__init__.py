"""Everything that wires Zhili together: the Dagster code location and the ``zhili`` command line.

One ``zhili run`` goes down these layers and back once:

* ``cli.py`` -- the front door: argparse and one function per command;
* ``preflight.py`` -- the checks a command makes before it starts (paths, ``--feed``, key, lock);
* ``runner.py`` -- ``zhili run`` in-process: what it materialises, in order;
* ``runlock.py`` -- one ``zhili run`` per home, and taking over from a killed one;
* ``instance.py`` -- the Dagster instance ``zhili run`` records its runs in (``<home>/dagster``);
* ``progress.py`` -- progress on stderr and the listeners that feed it from a run's log records;
* ``errors.py`` -- the errors a user can cause, the exit codes, a failed step in one line;
* ``summary.py`` -- the run's summary lines, the gates record and ``zhili status``;
* ``sql.py`` -- ``zhili sql`` on the serving snapshot;
* ``settings.py`` -- the one settings object.

``definitions.py`` is the code location (``dagster dev -m orchestration.definitions``): it merges one
``Definitions`` per folder of ``defs/`` (``feeds``, ``warehouse``), which hold only Dagster
definitions; helpers both sides share sit in ``lib/``. Nothing below ``cli.py`` imports it.
"""
