"""Which recipients to poll when an audience is too large to poll everyone (issue 12).

Polling costs a request per recipient, so above a configured audience size only a uniform random
sample is polled and the rates are estimated (``estimate``). The sample is the ``size``
recipients with the smallest *sample key*, a hash of (seed, recipient id). Because the keys of
distinct ids behave as independent uniform draws, every set of ``size`` recipients is equally
likely to have the smallest keys: a simple random sample without replacement. Because the key
depends only on the seed and the id, re-planning, a retry or another worker picks the same
sample, and the choice needs no stored random state.

The key is SQL-reproducible, so the pipeline may pick the sample with ``ORDER BY key LIMIT n``
over millions of rows instead of loading them (Postgres 11+ has ``sha256``)::

    ('x' || substr(encode(sha256(convert_to(:prefix || recipient_id::text, 'UTF8')), 'hex'),
                   1, 16))::bit(64)::bigint & 9223372036854775807

with ``:prefix`` = ``sample_prefix(seed)``.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Collection, Iterable
from statistics import NormalDist

_VERSION_PREFIX = "blazecast/imrest/sample/v1"
_KEY_MASK = 2**63 - 1  # a non-negative bigint, so SQL can order by it too

#: Half-width of the 95 % interval the default sample aims at, at the worst case p = 0.5.
DEFAULT_MARGIN = 0.02
#: Audiences up to this size are polled in full, so their counts are exact, not estimates.
DEFAULT_SAMPLE_ABOVE = 2000


def sample_prefix(seed: str) -> str:
    """The text hashed before the recipient id; the seed is typically the announcement id."""
    return f"{_VERSION_PREFIX}|{seed}|"


def sample_key(seed: str, recipient_id: int) -> int:
    """The recipient's place in the sample order: the first 8 bytes of SHA-256, low 63 bits."""
    text = sample_prefix(seed) + str(int(recipient_id))
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & _KEY_MASK


def choose_sample(recipient_ids: Iterable[int], size: int, seed: str) -> list[int]:
    """The ``size`` recipients with the smallest sample keys, ascending by id.

    Repeated ids count once; with fewer recipients than ``size``, all of them.
    """
    if size < 0:
        raise ValueError("size must not be negative")
    keyed = ((sample_key(seed, recipient), recipient) for recipient in set(recipient_ids))
    return sorted(recipient for _, recipient in heapq.nsmallest(size, keyed))


def sample_size(
    population: int,
    *,
    margin: float = DEFAULT_MARGIN,
    confidence: float = 0.95,
    budget: int | None = None,
) -> int:
    """Recipients to poll so a proportion's interval is at most about ±``margin`` wide.

    The worst case p = 0.5 gives n0 = z²/(4·margin²) for an infinite population; sampling
    without replacement from ``population`` needs n0 / (1 + (n0 − 1)/population). ``budget``
    caps it at the polls the request budget allows (the interval then comes out wider).
    """
    if population < 0:
        raise ValueError("population must not be negative")
    if not 0 < margin < 1 or not 0 < confidence < 1:
        raise ValueError("margin and confidence must be between 0 and 1")
    if population == 0:
        return 0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    n0 = z * z / (4 * margin * margin)
    size = math.ceil(n0 / (1 + (n0 - 1) / population))
    if budget is not None:
        size = min(size, max(budget, 0))
    return min(size, population)


def recipients_to_poll(
    recipient_ids: Collection[int],
    seed: str,
    *,
    sample_above: int = DEFAULT_SAMPLE_ABOVE,
    margin: float = DEFAULT_MARGIN,
    budget: int | None = None,
) -> list[int]:
    """Everyone, for an audience of at most ``sample_above``; otherwise a uniform sample.

    ``budget`` (recipients the polling share of the request budget can afford) caps the
    sample; it never shrinks a full poll of a small audience, whose counts must be exact.
    """
    if len(recipient_ids) <= sample_above:
        return sorted(set(recipient_ids))
    size = sample_size(len(recipient_ids), margin=margin, budget=budget)
    return choose_sample(recipient_ids, size, seed)
