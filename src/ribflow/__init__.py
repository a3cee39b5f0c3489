"""ribflow: BGP-enriched flows on Kafka (ExaBGP + flow decoder + Quix Streams enricher)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
