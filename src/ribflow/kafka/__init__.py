"""The managed local Kafka broker and Kafka client helpers."""

from ribflow.kafka.local import KAFKA_VERSION, BrokerConfig, LocalKafka, broker_answers

__all__ = ["KAFKA_VERSION", "BrokerConfig", "LocalKafka", "broker_answers"]
