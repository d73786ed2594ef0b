"""Status polling of an IM REST announcement through the real parts: the pipeline sends through
``ImRestProvider`` to the simulator (HTTP on loopback), the poll tick and the bot's polls read the
statuses back into Postgres, each request paid from Redis buckets."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from models import Delivery, Recipient, StatusPoll
from simulator.imrest import ImRestConfig, ImRestSimulator, RecipientBehaviour
from tests.integration.imrest.polling_support import (
    add_imrest_audience,
    announce,
    counters,
    delivery_states,
    imrest_bot,
    make_runtime,
    poll_until_done,
    polling_of,
    polls_left,
    send_all,
)
from worker import progress, report
from worker.broadcast import pipeline, service
from worker.broadcast.pipeline import InlineBroker
from worker.cli import render
from worker.config import Settings
from worker.db import Database
from worker.messaging.imrest.sampling import choose_sample
from worker.metrics import BlazecastCollector
from worker.ratelimit import quota_spec
from worker.runtime import Runtime

#: Delivered within 0.45 s of sending and read within 1.5 s after that, so every status is final
#: before the schedule's second poll (3 s).
BEHAVIOUR = RecipientBehaviour(
    delivery_delay=0.3, read_delay=1.0, delivery_probability=0.9, read_probability=0.5, spread=0.5
)


@pytest.fixture
def runtime(settings: Settings, clean_db: Database, redis_client: object) -> Iterator[Runtime]:
    built = make_runtime(settings)
    yield built
    built.close()


def test_a_2000_user_audience_is_polled_in_full_and_matches_the_simulator(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = ImRestConfig(users=2000, seed=11, behaviour=BEHAVIOUR, groups=0, foreign_groups=0)
    with ImRestSimulator(config) as sim:
        bot_id = imrest_bot(runtime, sim, monkeypatch, quota_per_minute=60_000, poll_delays="1,3,6")
        add_imrest_audience(runtime, bot_id, sim.user_ids)
        announcement_id = announce(runtime, bot_id)
        send_all(runtime)
        poll_until_done(runtime, announcement_id, timeout=90)
        stats = sim.stats()

    truth = stats["status_truth"]
    assert truth["now"] == truth["eventual"], "the simulated statuses had not settled"
    true_read = truth["eventual"]["READ"]
    true_delivered = true_read + truth["eventual"]["DELIVERED"]
    assert 0 < true_read < true_delivered < 2000  # a mix, so the counts can be wrong
    done = counters(runtime, announcement_id)
    assert (done.sent, done.delivered, done.read) == (2000, true_delivered, true_read)
    states = delivery_states(runtime, announcement_id)
    assert states == {
        "read": true_read,
        "delivered": true_delivered - true_read,
        "sent": 2000 - true_delivered,
    }
    with runtime.db.session() as session:
        rows = session.execute(
            select(StatusPoll.status, func.count())
            .where(StatusPoll.announcement_id == announcement_id)
            .group_by(StatusPoll.status)
        ).all()
        polls_made = session.execute(select(func.sum(StatusPoll.polls))).scalar_one()
    assert dict(rows) == {
        "READ": true_read,
        "DELIVERED": true_delivered - true_read,
        "UNREAD": 2000 - true_delivered,
    }
    # READ stops polling; the others are polled at 1, 3 and 6 s (the simulator counted them).
    assert stats["requests"]["conversation"] == polls_made
    assert polls_made <= true_read * 2 + (2000 - true_read) * 3


def test_polls_are_planned_once_and_a_row_is_never_polled_twice_at_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.broadcast import polls

    config = ImRestConfig(users=300, seed=3, behaviour=RecipientBehaviour.fast())
    with ImRestSimulator(config) as sim:
        bot_id = imrest_bot(runtime, sim, monkeypatch, quota_per_minute=60_000, poll_delays="1,3")
        add_imrest_audience(runtime, bot_id, sim.user_ids)
        announcement_id = announce(runtime, bot_id)
        send_all(runtime)
        polling = {bot_id: runtime.bot(bot_id).provider.status_polling}
        with runtime.db.session() as session:
            assert polls.plan_polls(session, polling) == 1  # type: ignore[arg-type]
            assert polls.plan_polls(session, polling) == 0  # type: ignore[arg-type]
            polls.activate(session, bot_id, polling[bot_id])  # type: ignore[arg-type]
        time.sleep(1.1)
        # Two workers claiming at once get disjoint rows.
        with runtime.db.session() as first, runtime.db.session() as second:
            a = polls.claim(first, bot_id, 200)
            b = polls.claim(second, bot_id, 200)
        assert len(a) == 200 and len(b) == 100
        assert not {d.delivery_id for d in a} & {d.delivery_id for d in b}
        with runtime.db.session() as session:  # leased: nothing left to claim
            assert polls.claim(session, bot_id, 500) == []
        assert sim.stats()["requests"].get("conversation", 0) == 0
    with runtime.db.session() as session:
        total = session.execute(
            select(func.count()).where(StatusPoll.announcement_id == announcement_id)
        ).scalar_one()
    assert total == 300


#: A fixed announcement id: the seed of the sample, so the test's sample is always the same.
SAMPLED_ANNOUNCEMENT = uuid.UUID("5a3e2f71-7c0b-4d39-9a7e-12ab34cd56ef")


def test_a_50000_user_audience_is_sampled_and_the_true_read_rate_is_inside_the_interval(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    behaviour = RecipientBehaviour(
        delivery_delay=0.3,
        read_delay=1.0,
        delivery_probability=0.85,
        read_probability=0.35,
        spread=0.5,
    )
    config = ImRestConfig(
        users=50_000, seed=29, behaviour=behaviour, groups=0, foreign_groups=0, request_log_size=10
    )
    with ImRestSimulator(config) as sim:
        bot_id = imrest_bot(
            runtime,
            sim,
            monkeypatch,
            quota_per_minute=120_000,
            poll_delays="1,3,6",
            sample_margin=0.03,
        )
        add_imrest_audience(runtime, bot_id, sim.user_ids)
        announcement_id = announce(runtime, bot_id, fixed_id=SAMPLED_ANNOUNCEMENT)
        send_all(runtime)
        poll_until_done(runtime, announcement_id, timeout=120)
        stats = sim.stats()
        time.sleep(2.5)  # the last recipients' statuses settle (the truth below is eventual)
        truth = sim.stats()["status_truth"]["eventual"]

    true_read = truth["READ"] / 50_000
    true_delivered = (truth["READ"] + truth["DELIVERED"]) / 50_000
    with runtime.db.session() as session:
        info = progress.get_info(session, announcement_id)
        sampled_users = session.execute(
            select(Recipient.user_id)
            .join(Delivery, Delivery.recipient_id == Recipient.id)
            .join(StatusPoll, StatusPoll.delivery_id == Delivery.id)
            .where(StatusPoll.announcement_id == announcement_id)
        ).scalars()
        sampled_ids = sorted(int(u) for u in sampled_users)
    # Postgres picked the sample ``sampling.choose_sample`` picks: the smallest keys.
    assert sampled_ids == choose_sample(sim.user_ids, 1_045, str(SAMPLED_ANNOUNCEMENT))
    estimates = info.estimates
    assert estimates is not None, "a sampled announcement shows estimates"
    assert estimates.sampled == 1_045  # sampling.sample_size(50_000, margin=0.03)
    assert estimates.polled == estimates.sampled and estimates.population == info.sent == 50_000
    assert (info.read, info.delivered) == (estimates.read.successes, estimates.delivered.successes)
    assert estimates.read.low <= true_read <= estimates.read.high, (true_read, estimates.read)
    assert estimates.delivered.covers(true_delivered), (true_delivered, estimates.delivered)
    assert estimates.read.high - estimates.read.low < 0.07
    # Only the sample was polled: at most one request per delay each, none for the others.
    assert stats["requests"]["conversation"] <= 3 * estimates.sampled
    # Shown as estimates wherever the counters are: show/status, the report, the metrics.
    shown = render.estimate_lines(info)
    assert shown[0].startswith("ESTIMATES") and "95 % CI" in shown[2] and "1,045 polled" in shown[2]
    assert (
        "ESTIMATE" in report.summary_notes(info)[2]
        and "read (sample)" in report.summary_notes(info)[0]
    )
    assert info.to_json()["estimates"]["estimate"] is True
    collector = BlazecastCollector(
        runtime.db, runtime.redis, lambda b, q: quota_spec(str(b), q or 2), 100
    )
    samples = {
        (s.name, s.labels.get("rate"), s.labels.get("bound"), s.labels.get("part")): s.value
        for family in collector.collect()
        for s in family.samples
        if s.labels.get("announcement") == str(announcement_id)
    }
    name = "blazecast_announcement_rate_estimate"
    assert samples[(name, "read", "low", None)] == pytest.approx(estimates.read.low)
    assert samples[(name, "read", "high", None)] == pytest.approx(estimates.read.high)
    assert samples[("blazecast_announcement_sample", None, None, "polled")] == 1_045


def test_polling_stays_within_its_share_of_the_budget_while_sending_runs(
    settings: Settings, clean_db: Database, redis_client: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5-second budget window (the bucket's and the simulator's), 300 requests in it, 20 % for
    polling: 600 recipients of a first announcement want polling (far more than the share
    allows) while a second one is sent to 12,000 (600 requests of 20 targets)."""
    window, quota, share = 5.0, 300, 0.2
    runtime = make_runtime(settings.model_copy(update={"quota_window_seconds": window}))
    config = ImRestConfig(
        users=12_000,
        seed=5,
        behaviour=RecipientBehaviour.fast(),
        groups=0,
        foreign_groups=0,
        budget_window_seconds=window,
        request_log_size=10,
    )
    try:
        with ImRestSimulator(config) as sim:
            bot_id = imrest_bot(
                runtime,
                sim,
                monkeypatch,
                quota_per_minute=quota,  # per window: the window is 5 s here
                poll_delays="0.5,60,120",
                poll_share=share,
                batch_size=20,
            )
            add_imrest_audience(runtime, bot_id, sim.user_ids, tagged=frozenset(sim.user_ids[:600]))
            first = announce(runtime, bot_id, audience=service.Audience.with_tags(["a"]))
            send_all(runtime)
            announce(runtime, bot_id, "Second")
            sending = threading.Thread(target=send_all, args=(runtime,))
            started = time.monotonic()
            sending.start()
            broker = InlineBroker()
            while sending.is_alive():
                for due_bot in pipeline.poll_tick(runtime.db, broker, polling_of(runtime)):
                    pipeline.poll(runtime.db, runtime.bot(due_bot), runtime.buckets)
                time.sleep(0.01)
            sending.join()
            elapsed = time.monotonic() - started
            stats = sim.stats()
    finally:
        runtime.close()
    peaks = stats["requests_window"]["largest_by_operation"]
    print(
        f"sent for {elapsed:.1f} s; peaks per {window:g} s window: {peaks}, all "
        f"{stats['requests_window']['largest']}"
    )
    assert elapsed > 2 * window, "sending ran for several windows"
    assert stats["requests_window"]["largest"] <= quota
    assert peaks["conversation"] <= share * quota
    # Polling got a good part of its share (it had far more to do) and sending the rest. The
    # share is a cap, not a reservation: polls and sends race for the quota bucket's tokens, and
    # on a loaded machine this loop wins fewer of them (49 and 52 of 60 quiet, 24 in a CI run
    # while it polled every 50 ms).
    assert peaks["conversation"] >= 0.4 * share * quota
    # (Sends depend on this process keeping up: a loaded machine gets less out of one loop.)
    assert peaks["send"] >= 0.5 * (1 - share) * quota
    assert polls_left(runtime, first) > 0
