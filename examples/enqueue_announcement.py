"""Enqueue announcements from an admin script, exactly once however often the script runs.

    source .venv/bin/activate                 # the virtualenv blazecast is installed in
    blazecast db upgrade                      # once, on a new database
    python examples/enqueue_announcement.py

It reads the same BLAZECAST_* settings as the blazecast command (with none set: the embedded
Postgres and Redis in blazecast's data folder). Running workers pick the announcements up from Postgres.
"""

from worker.api import Audience, Blazecast

with Blazecast.from_env() as blazecast:
    # Idempotent under its key: run this script ten times, the announcement is stored once.
    maintenance = blazecast.enqueue(
        "Scheduled maintenance on Sunday 02:00-03:00 UTC. Thanks for your patience!",
        key="maintenance-2030-06-02",
        title="Maintenance window",
        at="2030-06-02 01:30",
        time_zone="UTC",
        priority=5,
    )
    print("created" if maintenance.created else "already enqueued", maintenance.id)

    # A draft for tagged users, scheduled in their time zone, then held until marketing says go.
    sale = blazecast.create(
        category="PLAIN_POST",
        content="# Spring sale\n\nEverything **-20 %** this week.",
        audience=Audience.with_tags(["vip"]),
        title="Spring sale",
        key="spring-sale-2030",
    )
    blazecast.schedule(sale, "2030-03-20 09:00", time_zone="Europe/Paris")
    blazecast.pause(sale)  # blazecast.resume(sale) lets it go at the scheduled time

    for info in (blazecast.status(maintenance.id), blazecast.status(sale)):
        when = info.scheduled_at.strftime("%Y-%m-%d %H:%M UTC") if info.scheduled_at else "-"
        print(f"{info.title}: {info.status} for {when}, {info.sent} of {info.total} sent")
