"""The IM REST client end to end against the simulator on loopback: a faulted broadcast that
every user sees once, exact status counts for a small audience, and the sample chosen in
Postgres is the one chosen in Python. (The sampled estimate of a 50,000-user audience goes
through the pipeline's own poller: ``test_imrest_polling.py``.)"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session

from simulator.imrest import ImRestSimulator, RecipientBehaviour
from tests.imrest_support import poll_on_schedule, send_all
from worker.messaging.imrest import ImRestTransport, PollSchedule, recipients_to_poll
from worker.messaging.imrest.sampling import choose_sample, sample_key, sample_prefix

from .conftest import ANNOUNCEMENT, now_ms


def test_with_drops_5xx_and_20000_every_user_sees_the_message_once(
    make_sim: Callable[..., ImRestSimulator], make_transport: Callable[..., ImRestTransport]
) -> None:
    sim = make_sim(users=3000)
    sim.set_faults(drop_rate=0.05, server_error_rate=0.05, codes={20000: 0.05}, seed=2)
    transport = make_transport(sim)
    send_all(transport, transport.settings, ANNOUNCEMENT, sim.user_ids)
    stats = sim.stats()
    injected = stats["faults_injected"]
    assert min(injected["drop"], injected["server_error"], injected["code_20000"]) > 0
    assert stats["per_user"]["copies"] == {"1": 3000}
    # The same transaction_id after each dropped reply: the simulator suppressed every repeat.
    assert stats["dedup"]["hits"] == injected["drop"]
    assert stats["executed_sends"] == {"send": 30}


def test_polling_everyone_counts_read_and_delivered_exactly(
    make_sim: Callable[..., ImRestSimulator], make_transport: Callable[..., ImRestTransport]
) -> None:
    behaviour = RecipientBehaviour(
        delivery_delay=0.1,
        read_delay=0.2,
        delivery_probability=0.85,
        read_probability=0.5,
        spread=0.5,
    )
    sim = make_sim(users=2000, behaviour=behaviour, seed=5)
    transport = make_transport(sim)
    since = now_ms() - 5_000
    sent_at = send_all(transport, transport.settings, ANNOUNCEMENT, sim.user_ids)
    audience = recipients_to_poll(sim.user_ids, ANNOUNCEMENT)  # 2,000: everyone, not a sample
    assert audience == sim.user_ids
    seen, requests = poll_on_schedule(
        transport, ANNOUNCEMENT, audience, sent_at, since, PollSchedule((0.2, 0.6))
    )
    truth = sim.stats()["status_truth"]
    assert truth["now"] == truth["eventual"]  # settled before the last poll
    counted = Counter(seen.values())
    assert counted["READ"] == truth["now"]["READ"]
    assert counted["DELIVERED"] == truth["now"]["DELIVERED"]
    assert counted["SENT"] == truth["now"]["UNREAD"]
    # One request per poll, counted by the simulator; READ stops polling early.
    assert requests == sim.stats()["requests"]["conversation"]
    assert 2000 <= requests < 4000


def test_postgres_chooses_the_same_sample_with_the_documented_sql(db_session: Session) -> None:
    # The pipeline may pick a million-row audience's sample in SQL; it must be the same sample.
    seed = ANNOUNCEMENT
    ids = list(range(1099511627002, 1099511627002 + 3000))
    keys = db_session.execute(
        text(
            "SELECT id, ('x' || substr(encode(sha256(convert_to(:prefix || id::text, 'UTF8')),"
            " 'hex'), 1, 16))::bit(64)::bigint & 9223372036854775807"
            " FROM unnest(CAST(:ids AS bigint[])) AS id"
        ),
        {"prefix": sample_prefix(seed), "ids": ids},
    ).all()
    assert {row[0]: row[1] for row in keys} == {i: sample_key(seed, i) for i in ids}
    in_sql = db_session.execute(
        text(
            "SELECT id FROM unnest(CAST(:ids AS bigint[])) AS id ORDER BY"
            " ('x' || substr(encode(sha256(convert_to(:prefix || id::text, 'UTF8')), 'hex'),"
            " 1, 16))::bit(64)::bigint & 9223372036854775807 LIMIT 250"
        ),
        {"prefix": sample_prefix(seed), "ids": ids},
    ).scalars()
    assert sorted(in_sql) == choose_sample(ids, 250, seed)
