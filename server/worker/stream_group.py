"""Reading the `images:new` stream through a consumer group, restart-safe.

Every background process that acts on stored pictures (the archiver, the notifier) reads
the stream the capture daemons write (see `pi.contract.STREAM_KEY`) through its own
consumer group, so:

- a restart resumes where it left off: entries delivered but not acknowledged are read
  again first (XREADGROUP with id 0);
- entries a dead consumer of the same group held are claimed after `claim_idle` seconds
  (XAUTOCLAIM), so two workers of one group never handle an entry at the same time on
  purpose, and a crash loses none;
- an entry is acknowledged (XACK) only once its handler said it is done.

The stream is capped, so a worker that was away for long may have missed entries that
were trimmed; `Batch.trimmed` counts the pending ones Redis no longer has, and each
worker decides how to catch up (the archiver walks the index). This module imports only
the standard library, redis and the contract, so it runs on a Pi as well.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis

from pi.contract import STREAM_KEY

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One stream entry handed to a worker: its stream id and its fields, decoded."""

    stream_id: str
    fields: dict[str, str]


@dataclass
class Batch:
    """What one `StreamGroup.read()` returned."""

    deliveries: list[Delivery] = field(default_factory=list)
    #: Pending entries the stream no longer holds (trimmed before they were handled).
    trimmed: int = 0
    #: How many of the deliveries were claimed from another (dead) consumer.
    claimed: int = 0


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _decode(entries: Iterable) -> tuple[list[Delivery], int]:
    out: list[Delivery] = []
    trimmed = 0
    for stream_id, fields in entries or ():
        if not fields:  # pending, but trimmed from the stream since (XADD needs a field)
            trimmed += 1
            continue
        out.append(Delivery(_text(stream_id), {_text(k): _text(v) for k, v in fields.items()}))
    return out, trimmed


class StreamGroup:
    """One consumer of one consumer group on the image stream.

    `start` is where a new group begins: "$" for entries added from now on, "0" for
    everything the stream still holds.
    """

    def __init__(self, client: redis.Redis, group: str, consumer: str, *, stream: str = STREAM_KEY,
                 start: str = "$", claim_idle: float = 60.0, batch_size: int = 50) -> None:
        self.client = client
        self.group = group
        self.consumer = consumer
        self.stream = stream
        self.start = start
        self.claim_idle_ms = int(claim_idle * 1000)
        self.batch_size = batch_size
        self._own_pending_done = False
        self._pending_cursor = "0"

    def ensure(self) -> bool:
        """Create the group (and the stream) if missing. Returns True when it was created."""
        try:
            self.client.xgroup_create(self.stream, self.group, id=self.start, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" in str(exc):
                return False
            raise
        logger.info("Created consumer group %s on %s (starting at %s)", self.group, self.stream, self.start)
        return True

    def read(self, block: float = 1.0) -> Batch:
        """Return the next entries to handle: own pending first, then claimed, then new.

        Blocks up to `block` seconds when nothing is waiting. A group that vanished (the
        stream was deleted, or Redis lost its data) is created again.
        """
        try:
            return self._read(block)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            logger.warning("Consumer group %s on %s was gone; creating it again", self.group, self.stream)
            self._own_pending_done = False
            self._pending_cursor = "0"
            self.ensure()
            return self._read(block)

    def _read(self, block: float) -> Batch:
        batch = Batch()
        if not self._own_pending_done:
            # Entries this consumer was given before a restart and never acknowledged, a
            # page at a time (the cursor moves on, so entries a handler leaves pending
            # don't come back until the next rewind()).
            reply = self.client.xreadgroup(self.group, self.consumer, {self.stream: self._pending_cursor},
                                           count=self.batch_size)
            if reply and reply[0][1]:
                self._pending_cursor = _text(reply[0][1][-1][0])
            deliveries, trimmed = _decode(reply[0][1] if reply else [])
            if trimmed:
                self._ack_trimmed(reply[0][1])
            batch.deliveries, batch.trimmed = deliveries, trimmed
            if deliveries or trimmed:
                return batch
            self._own_pending_done = True
        claimed = self._claim()
        if claimed.deliveries or claimed.trimmed:
            return claimed
        reply = self.client.xreadgroup(self.group, self.consumer, {self.stream: ">"},
                                       count=self.batch_size, block=max(1, int(block * 1000)))
        batch.deliveries, _ = _decode(reply[0][1] if reply else [])
        return batch

    def _claim(self) -> Batch:
        reply = self.client.xautoclaim(self.stream, self.group, self.consumer, self.claim_idle_ms,
                                       start_id="0-0", count=self.batch_size)
        # Redis 7+: [next start id, [(id, fields), ...], [ids deleted from the stream]]
        entries = reply[1] if len(reply) > 1 else []
        deleted = [_text(i) for i in (reply[2] if len(reply) > 2 else [])]
        if deleted:
            self.client.xack(self.stream, self.group, *deleted)
        deliveries, trimmed = _decode(entries)
        if deliveries:
            logger.info("Claimed %d stream entries a stopped consumer of %s left pending",
                        len(deliveries), self.group)
        return Batch(deliveries=deliveries, trimmed=trimmed + len(deleted), claimed=len(deliveries))

    def _ack_trimmed(self, entries: Iterable) -> None:
        ids = [_text(stream_id) for stream_id, fields in entries if not fields]
        if ids:
            self.client.xack(self.stream, self.group, *ids)

    def rewind(self) -> None:
        """Make the next `read()` start again with this consumer's unacknowledged entries.

        A worker calls it after a handler failed and it backed off, to retry those first.
        (Entries left pending are otherwise claimed again after `claim_idle`.)
        """
        self._own_pending_done = False
        self._pending_cursor = "0"

    def ack(self, *stream_ids: str) -> None:
        """Mark entries as handled, so no consumer of the group gets them again."""
        if stream_ids:
            self.client.xack(self.stream, self.group, *stream_ids)

    def pending_count(self) -> int:
        """Return how many entries the whole group has been given and not acknowledged."""
        info = self.client.xpending(self.stream, self.group)
        return int(info.get("pending", 0)) if isinstance(info, dict) else int(info[0])

    def lag(self) -> int | None:
        """Return how many stream entries the group has not been given yet (None if unknown)."""
        for group in self.client.xinfo_groups(self.stream):
            name = _text(group.get("name", b""))
            if name == self.group:
                lag = group.get("lag")
                return None if lag is None else int(lag)
        return None
