"""The e2e bench learns a run's outcome from the notification topic, as a subscribed user
does: through an HTTP subscription on the offline stack's SNS."""

from __future__ import annotations

import json
import queue

import pytest

from bench.notifications import NotificationReceiver
from sagepipe_local.stack import LocalStack


def test_a_published_message_reaches_the_receiver(mini_stack: LocalStack) -> None:
    with NotificationReceiver() as receiver:
        sns = mini_stack.client("sns")
        topic = sns.create_topic(Name="bench-outcomes")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=receiver.url)
        with pytest.raises(queue.Empty):
            receiver.next_message(timeout=0.05)

        sns.publish(TopicArn=topic, Message=json.dumps({"outcome": "deployed", "version": "v1"}))

        assert receiver.next_message(timeout=10) == {"outcome": "deployed", "version": "v1"}
