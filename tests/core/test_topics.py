from __future__ import annotations

import uuid

import pytest

from ribflow.topics import (
    COMPACTED,
    CoPartitionError,
    TopicSpec,
    check_copartitioned,
    ensure_topics,
)

pytestmark = pytest.mark.integration


def test_ensure_topics_and_copartitioning(kafka_broker: str) -> None:
    tag = uuid.uuid4().hex[:8]
    a, b, c = f"test-a-{tag}", f"test-b-{tag}", f"test-c-{tag}"
    created = ensure_topics(
        kafka_broker, [TopicSpec(a, 4), TopicSpec(b, 4, COMPACTED), TopicSpec(c, 2)]
    )
    assert sorted(created) == sorted([a, b, c])
    assert ensure_topics(kafka_broker, [TopicSpec(a, 4)]) == []  # idempotent
    assert check_copartitioned(kafka_broker, [a, b]) == 4
    with pytest.raises(CoPartitionError, match=f"{a}=4.*{c}=2"):
        check_copartitioned(kafka_broker, [a, c])
    with pytest.raises(CoPartitionError, match="missing"):
        check_copartitioned(kafka_broker, [a, f"nope-{tag}"])
