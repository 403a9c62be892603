"""Probes for a service process under ``bench/inbound.py``, chosen by environment.

Python imports ``sitecustomize`` at start-up from the path, so putting this folder on
the service's ``PYTHONPATH`` loads the probes whose output variable is set:
``STATEMENTS_OUT`` (``probe_statements``: SQL statements and transactions) and
``GC_PAUSES_OUT`` (``probe_gc``: how long each garbage collection stopped the process),
``LOOP_LAG_OUT`` (``probe_loop``: how late the event loop comes back to a ready timer).
Each writes JSON when the process exits and changes nothing else.
"""

import os

if os.environ.get("STATEMENTS_OUT"):
    import probe_statements  # noqa: F401
if os.environ.get("GC_PAUSES_OUT"):
    import probe_gc  # noqa: F401
if os.environ.get("LOOP_LAG_OUT"):
    import probe_loop  # noqa: F401
