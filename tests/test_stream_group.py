"""Consumer groups on the image stream: restart-safe, claim from dead consumers, no loss."""

from __future__ import annotations

from pi import contract
from server.worker.stream_group import StreamGroup


def _announce(r, n: int, start: int = 0) -> list[str]:
    return [r.xadd(contract.STREAM_KEY, {"id": f"cam:{1000 + i}-abcd", "timestamp": str(1000 + i)}).decode()
            for i in range(start, start + n)]


def test_a_new_group_from_now_sees_only_new_pictures(r) -> None:
    _announce(r, 3)
    group = StreamGroup(r, "g", "c1")
    assert group.ensure() is True
    assert group.ensure() is False  # idempotent
    assert group.read(block=0.05).deliveries == []
    added = _announce(r, 2, start=10)
    got = group.read(block=0.05).deliveries
    assert [d.stream_id for d in got] == added
    assert got[0].fields["id"] == "cam:1010-abcd"


def test_unacknowledged_entries_come_back_after_a_restart_and_acked_ones_never(r) -> None:
    group = StreamGroup(r, "g", "c1", start="0")
    group.ensure()
    ids = _announce(r, 4)
    first = group.read(block=0.05).deliveries
    assert [d.stream_id for d in first] == ids
    group.ack(ids[0], ids[1])
    restarted = StreamGroup(r, "g", "c1", start="0")  # same consumer name after a restart
    again = restarted.read(block=0.05).deliveries
    assert [d.stream_id for d in again] == ids[2:]
    restarted.ack(*ids[2:])
    assert restarted.read(block=0.05).deliveries == []
    assert restarted.pending_count() == 0


def test_a_dead_consumers_entries_are_claimed_by_another(r) -> None:
    dead = StreamGroup(r, "g", "dead", start="0")
    dead.ensure()
    ids = _announce(r, 3)
    assert len(dead.read(block=0.05).deliveries) == 3  # delivered, never acknowledged
    alive = StreamGroup(r, "g", "alive", start="0", claim_idle=0.0)
    batch = alive.read(block=0.05)
    assert [d.stream_id for d in batch.deliveries] == ids and batch.claimed == 3
    alive.ack(*ids)
    assert alive.pending_count() == 0


def test_a_failed_entry_is_retried_first_after_rewind(r) -> None:
    group = StreamGroup(r, "g", "c1", start="0")
    group.ensure()
    ids = _announce(r, 2)
    assert len(group.read(block=0.05).deliveries) == 2
    group.ack(ids[0])  # the second failed
    group.rewind()
    assert [d.stream_id for d in group.read(block=0.05).deliveries] == [ids[1]]


def test_entries_trimmed_before_they_were_handled_are_counted_not_lost_silently(r) -> None:
    group = StreamGroup(r, "g", "c1", start="0")
    group.ensure()
    ids = _announce(r, 3)
    group.read(block=0.05)
    r.xtrim(contract.STREAM_KEY, maxlen=0)
    restarted = StreamGroup(r, "g", "c1", start="0")
    batch = restarted.read(block=0.05)
    assert batch.deliveries == [] and batch.trimmed == len(ids)
    assert restarted.pending_count() == 0


def test_a_group_lost_with_the_stream_is_created_again(r) -> None:
    group = StreamGroup(r, "g", "c1", start="0")
    group.ensure()
    group.read(block=0.05)
    r.delete(contract.STREAM_KEY)
    assert group.read(block=0.05).deliveries == []
    ids = _announce(r, 1)
    assert [d.stream_id for d in group.read(block=0.05).deliveries] == ids
    assert group.lag() == 0


def test_an_entry_left_pending_does_not_hold_up_the_ones_after_it(r) -> None:
    group = StreamGroup(r, "g", "c1", start="0", batch_size=2)
    group.ensure()
    ids = _announce(r, 3)
    group.read(block=0.05)  # the first two, never acknowledged (their handler is waiting)
    restarted = StreamGroup(r, "g", "c1", start="0", batch_size=2)
    assert [d.stream_id for d in restarted.read(block=0.05).deliveries] == ids[:2]
    assert [d.stream_id for d in restarted.read(block=0.05).deliveries] == ids[2:]  # not ids[:2] again
    restarted.rewind()
    assert [d.stream_id for d in restarted.read(block=0.05).deliveries] == ids[:2]
