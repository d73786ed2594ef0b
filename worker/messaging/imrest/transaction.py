"""The deterministic ``transaction_id`` of a batch (spec §3.2), a pure function.

A retry of the same batch must carry the same id so that the server, which deduplicates by
``transaction_id`` "in a short time", does not execute it twice. The id hashes the targets
themselves rather than a batch index, so a change of chunk size can never give two different
batches the same id; the endpoint is hashed too because the server's dedup scope is unknown and
may span ``/message/send`` and ``/message/notify``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

#: Ids blazecast generates stay at or below 2^53 − 1, so any JSON parser keeps them exact (§1.4).
MAX_SAFE_ID = 2**53 - 1
_VERSION_PREFIX = "blazecast/imrest/v1"


def transaction_id(
    announcement_id: str, endpoint: str, target_type: int, targets: Iterable[int]
) -> int:
    """SHA-256 of ``blazecast/imrest/v1|<announcement>|<endpoint>|<type>|<sorted targets>``.

    The first 8 bytes, big-endian, keep their low 53 bits; 0 becomes 1 so the id is always a
    positive int64. The targets are sorted here, so their order in the batch does not matter.
    """
    joined = ",".join(str(target) for target in sorted(targets))
    key = f"{_VERSION_PREFIX}|{announcement_id}|{endpoint}|{target_type}|{joined}"
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    value = int.from_bytes(digest[:8], "big") & MAX_SAFE_ID
    return value or 1
