"""Coalesced lookups (service/files/coalescing.py): alone when nothing else runs, together when they
arrive during a query of the same kind, and every waiter answered, failed or cancelled."""

from __future__ import annotations

import asyncio

import pytest

from service.files.coalescing import Coalescer


class Fetcher:
    """A fetch that records its calls and finishes each when the test says so."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int]]] = []
        self.gates: list[asyncio.Future] = []
        self.fail: Exception | None = None

    async def __call__(self, key: str, items: list[int]) -> dict[int, str]:
        self.calls.append((key, items))
        gate = asyncio.get_running_loop().create_future()
        self.gates.append(gate)
        await gate
        if self.fail is not None:
            raise self.fail
        return {i: f"{key}:{i}" for i in items if i >= 0}

    async def release(self, count: int) -> None:
        """Let the next query finish once `count` queries were started."""
        while len(self.calls) < count:
            await asyncio.sleep(0)
        self.gates[count - 1].set_result(None)


def test_a_lookup_alone_is_its_own_query_at_once():
    async def scenario() -> None:
        fetch = Fetcher()
        coalescer = Coalescer(fetch)
        lookup = asyncio.create_task(coalescer.get("a", 1))
        await fetch.release(1)
        assert await lookup == "a:1"
        missing = asyncio.create_task(coalescer.get("a", -1))
        await fetch.release(2)
        assert await missing is None
        assert fetch.calls == [("a", [1]), ("a", [-1])]

    asyncio.run(scenario())


def test_lookups_arriving_during_a_query_go_together_in_the_next():
    async def scenario() -> None:
        fetch = Fetcher()
        coalescer = Coalescer(fetch)
        first = asyncio.create_task(coalescer.get("a", 1))
        await asyncio.sleep(0)
        # While the first runs: same kind (one query, each id once), another kind (its own).
        later = [asyncio.create_task(coalescer.get("a", i)) for i in (2, 3, 2, -4)]
        other = asyncio.create_task(coalescer.get("b", 2))
        await asyncio.sleep(0)
        assert fetch.calls == [("a", [1]), ("b", [2])]
        await fetch.release(1)
        assert await first == "a:1"
        await fetch.release(3)
        assert await asyncio.gather(*later) == ["a:2", "a:3", "a:2", None]
        await fetch.release(2)
        assert await other == "b:2"
        assert fetch.calls == [("a", [1]), ("b", [2]), ("a", [2, 3, -4])]
        # All done: the next lookup is alone again.
        again = asyncio.create_task(coalescer.get("a", 5))
        await fetch.release(4)
        assert await again == "a:5"
        assert fetch.calls[-1] == ("a", [5])

    asyncio.run(scenario())


def test_batches_are_bounded():
    async def scenario() -> None:
        fetch = Fetcher()
        coalescer = Coalescer(fetch, max_batch=2)
        first = asyncio.create_task(coalescer.get("a", 0))
        await asyncio.sleep(0)
        later = [asyncio.create_task(coalescer.get("a", i)) for i in (1, 2, 3)]
        await asyncio.sleep(0)
        for n in (1, 2, 3):
            await fetch.release(n)
        assert await asyncio.gather(first, *later) == ["a:0", "a:1", "a:2", "a:3"]
        assert [items for _, items in fetch.calls] == [[0], [1, 2], [3]]

    asyncio.run(scenario())


def test_a_failed_query_fails_every_lookup_in_it_and_the_next_ones_still_run():
    async def scenario() -> None:
        fetch = Fetcher()
        coalescer = Coalescer(fetch)
        first = asyncio.create_task(coalescer.get("a", 1))
        await asyncio.sleep(0)
        batch = [asyncio.create_task(coalescer.get("a", i)) for i in (2, 3)]
        await asyncio.sleep(0)
        fetch.fail = ConnectionError("database gone")
        await fetch.release(1)
        with pytest.raises(ConnectionError):
            await first
        after = asyncio.create_task(coalescer.get("a", 4))  # arrives during the batch's query
        await fetch.release(2)
        for lookup in batch:
            with pytest.raises(ConnectionError):
                await lookup
        fetch.fail = None
        await fetch.release(3)
        assert await after == "a:4"

    asyncio.run(scenario())


def test_a_cancelled_lookup_leaves_the_others_answered():
    async def scenario() -> None:
        fetch = Fetcher()
        coalescer = Coalescer(fetch)
        first = asyncio.create_task(coalescer.get("a", 1))
        await asyncio.sleep(0)
        gone, stays = (asyncio.create_task(coalescer.get("a", i)) for i in (2, 3))
        await asyncio.sleep(0)
        gone.cancel()
        await fetch.release(1)
        assert await first == "a:1"
        await fetch.release(2)
        assert await stays == "a:3"
        assert gone.cancelled()
        assert fetch.calls[-1] == ("a", [3])  # the cancelled one was not asked for

    asyncio.run(scenario())


def test_the_maps_are_emptied_after_many_distinct_keys_answered_failed_or_cancelled():
    async def fetch(key: str, items: list[int]) -> dict[int, str]:
        await asyncio.sleep(0.001)
        if key.endswith("7"):
            raise RuntimeError("database down")
        return {i: key for i in items}

    async def scenario() -> None:
        coalescer = Coalescer(fetch, max_batch=3)
        for round_ in range(20):
            lookups = [
                asyncio.create_task(coalescer.get(f"kind-{round_}-{k}", i))
                for k in range(10)
                for i in range(8)
            ]
            await asyncio.sleep(0)
            for task in lookups[::5]:
                task.cancel()  # clients gone mid-lookup
            await asyncio.gather(*lookups, return_exceptions=True)
            assert len(coalescer) <= 10
        for _ in range(10):
            await asyncio.sleep(0.002)  # the last batches' tasks finish
        assert len(coalescer) == 0
        assert coalescer._waiting == {} and coalescer._tasks == set()

    asyncio.run(scenario())
