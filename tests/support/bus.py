"""The domain events of a local cloud's bus, as a consumer would get them: a rule of the test's
own sends every `orderhub.orders` event to a queue of the test's own."""

from __future__ import annotations

import json

import boto3


class OrderEvents:
    def __init__(self, cloud, name: str):
        self._sqs = boto3.client("sqs", endpoint_url=cloud.endpoint_url, region_name="us-east-1")
        events = boto3.client("events", endpoint_url=cloud.endpoint_url, region_name="us-east-1")
        bus = cloud.environment["EVENT_BUS_NAME"]
        self._queue = self._sqs.create_queue(QueueName=name)["QueueUrl"]
        attrs = self._sqs.get_queue_attributes(QueueUrl=self._queue, AttributeNames=["QueueArn"])
        events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": ["orderhub.orders"]}))
        events.put_targets(
            Rule=name, EventBusName=bus, Targets=[{"Id": "q", "Arn": attrs["Attributes"]["QueueArn"]}]
        )
        self._seen: list[dict] = []

    def of(self, order_id: str) -> list[dict]:
        """Every event of the order received so far (what the queue holds now is read first)."""
        while True:
            got = self._sqs.receive_message(QueueUrl=self._queue, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                break
            self._seen.extend(json.loads(m["Body"]) for m in got)
        return [e for e in self._seen if e["detail"]["order_id"] == order_id]
