"""Session-wide fixtures: one real Kafka broker per test session, unique topics per test.

Broker choice, in order: ``Quix__Broker__Address`` if set; else compose.yaml through pytest-docker
when a Docker engine answers (``docker info``); else the managed local Kafka (``ribflow kafka``)
on a free port with its own data directory, stopped at the end of the session.
"""

from __future__ import annotations

pytest_plugins = ["tests.fixtures.kafka"]
