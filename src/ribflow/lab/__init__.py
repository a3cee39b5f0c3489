"""The local lab: Kafka, a real router (gobgpd) with a real table, ExaBGP + bridge, collector,
enricher, aggregator and a real exporter (softflowd) on loopback, run by `ribflow lab`."""

from ribflow.lab.settings import LabSettings

__all__ = ["LabSettings"]
