"""The local AWS world: moto and an Amplify emulator behind one loopback endpoint.

Shipped under the ``testing`` extra so users can test their own DAGs offline::

    python -m airflow_amplify.testing serve --port 5055

or, in Python, ``with WorldServer() as server: WorldClient(server.url)...``. pytest fixtures are
in :mod:`airflow_amplify.testing.pytest_plugin` (add it to ``pytest_plugins`` in a conftest).
"""

from __future__ import annotations

from airflow_amplify.testing.world.client import PRODUCTION_ACCOUNT_ID, STAGING_ACCOUNT_ID, WorldClient
from airflow_amplify.testing.world.server import WorldServer

__all__ = ["PRODUCTION_ACCOUNT_ID", "STAGING_ACCOUNT_ID", "WorldClient", "WorldServer"]
