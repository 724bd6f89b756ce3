"""Dead-letter queues: read what Lambda gave up on, hand each event back, delete only on success.

Two shapes reach a queue here. A function's ``DeadLetterConfig`` (and an SNS subscription's or
an EventBridge target's DLQ) puts the original event in the body; an on-failure *destination*
wraps it as ``{"requestContext": ..., "requestPayload": <event>, "responsePayload": ...}``.
:func:`original_event` reads both. A message is deleted only after its handler returned, so a
redrive that fails half-way leaves the rest (and the failed one) in the queue: nothing lost,
and a message handled once is never handled again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from propensity.observability import logger

REDRIVE_VISIBILITY_S = 900


class DeadLetterError(ValueError):
    """A queued message that is not an event this redrive can hand back."""


@dataclass(frozen=True)
class DeadLetter:
    """One queued failure: the event, the function that failed it (if the queue says), why."""

    message_id: str
    receipt_handle: str
    event: dict[str, Any]
    function_arn: str | None = None
    error: str | None = None


@dataclass
class RedriveSummary:
    """What one redrive did; ``failed`` messages are still in the queue."""

    redriven: int = 0
    failed: int = 0
    unreadable: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.unreadable == 0


def original_event(body: str) -> tuple[dict[str, Any], str | None]:
    """The event a message carries and, for a destination record, the function's ARN."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise DeadLetterError(f"message body is not JSON: {type(error).__name__}") from error
    if not isinstance(document, dict):
        raise DeadLetterError("message body is not a JSON object")
    if "requestPayload" in document:
        payload = document["requestPayload"]
        context = document.get("requestContext")
        arn = context.get("functionArn") if isinstance(context, dict) else None
        if not isinstance(payload, dict):
            raise DeadLetterError("destination record without an event object in requestPayload")
        return payload, str(arn) if arn else None
    return document, None


@dataclass(frozen=True)
class Unreadable:
    message_id: str
    receipt_handle: str


def receive(sqs: Any, queue_url: str, *, limit: int) -> list[DeadLetter | Unreadable]:
    """Up to ``limit`` messages: a :class:`DeadLetter` each, or :class:`Unreadable`."""
    received: list[DeadLetter | Unreadable] = []
    while len(received) < limit:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, limit - len(received)),
            WaitTimeSeconds=1,
            # Long enough for the whole batch to be handled: a message must not reappear (and
            # be handled twice) while this redrive is still working on the ones before it.
            VisibilityTimeout=REDRIVE_VISIBILITY_S,
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            break
        for message in messages:
            attributes = message.get("MessageAttributes") or {}
            error = (attributes.get("ErrorMessage") or {}).get("StringValue")
            try:
                event, arn = original_event(message.get("Body", ""))
            except DeadLetterError as problem:
                logger.error(
                    "unreadable dead letter left in the queue",
                    extra={"message_id": message["MessageId"], "error": str(problem)},
                )
                received.append(Unreadable(message["MessageId"], message["ReceiptHandle"]))
                continue
            received.append(DeadLetter(message["MessageId"], message["ReceiptHandle"], event, arn, error))
    return received


def redrive(
    sqs: Any, queue_url: str, handle: Callable[[DeadLetter], None], *, limit: int = 100
) -> RedriveSummary:
    """Hand each queued event to ``handle``; delete it only when ``handle`` returned.

    Messages that failed or are unreadable are made visible again at the end (not during the
    run, which would receive them a second time), so the next redrive sees them at once.
    """
    summary = RedriveSummary()
    kept: list[str] = []
    for item in receive(sqs, queue_url, limit=limit):
        if isinstance(item, Unreadable):
            summary.unreadable += 1
            summary.errors.append(f"{item.message_id}: unreadable, left in the queue")
            kept.append(item.receipt_handle)
            continue
        try:
            handle(item)
        except Exception as error:  # reported per message; the message stays for the next try
            summary.failed += 1
            summary.errors.append(f"{item.message_id}: {type(error).__name__}: {str(error)[:300]}")
            logger.warning("redrive of a dead letter failed", extra={"message_id": item.message_id})
            kept.append(item.receipt_handle)
            continue
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=item.receipt_handle)
        summary.redriven += 1
    for receipt in kept:
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=0)
    return summary
