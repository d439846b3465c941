"""Item identity: a stable id per item, the shard it belongs to and its own random stream.

Everything that could depend on order, concurrency or sharding is derived from the item id
instead, so a result is the same however the build is run or resumed.
"""

from __future__ import annotations

import hashlib
import random
from typing import Iterable

from builders.schema import content_hash


def item_id(item: dict) -> str:
    """The item's ``id``, or the content hash of the item when it has none."""
    value = item.get("id")
    return value if isinstance(value, str) and value else content_hash(item)


def with_id(item: dict) -> dict:
    return item if isinstance(item.get("id"), str) and item["id"] else {**item, "id": content_hash(item)}


def item_rng(seed: int, step: str, item: str) -> random.Random:
    """The random stream of one item in one step: (seed, step name, item id), nothing else."""
    digest = hashlib.sha256(f"{seed}\0{step}\0{item}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def shard_of(item: str, shards: int) -> int:
    """The shard of an item id: a stable hash, so the split never depends on input order."""
    if shards == 1:
        return 0
    return int.from_bytes(hashlib.blake2b(item.encode(), digest_size=8).digest(), "big") % shards


def ids_digest(ids: Iterable[str]) -> str:
    """Digest of a sorted id list; ids are content hashes, so this covers the content too."""
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()
