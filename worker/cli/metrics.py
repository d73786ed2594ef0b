"""``blazecast metrics``: the Prometheus exporter (``serve``) and a one-off look (``show``)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click
from prometheus_client import generate_latest, start_http_server

from worker.bots import quota_of
from worker.cli import context
from worker.db import make_redis, resolve_urls
from worker.metrics import BlazecastCollector, registry_for


def _collector() -> BlazecastCollector:
    settings = context.settings()
    client = make_redis(resolve_urls(settings).redis)
    click.get_current_context().call_on_close(client.close)
    return BlazecastCollector(
        context.database(),
        client,
        lambda bot_id, per_minute: quota_of(bot_id, per_minute, settings),
        settings.batch_size,
    )


@click.group()
def metrics() -> None:
    """Prometheus metrics: announcement progress, quota bucket, 429s, retries, receipt lag,
    queue depth.

    \b
    Example:
      blazecast metrics serve --port 9808
      curl -s localhost:9808/metrics | grep blazecast_queue_depth
    """


@metrics.command()
@click.option("--port", type=int, default=None, help="Port (default: BLAZECAST_METRICS_PORT).")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to bind.")
def serve(port: int | None, address: str) -> None:
    """Serve /metrics for Prometheus until Ctrl-C or SIGTERM. The quota bucket's metrics need
    BLAZECAST_KEYSTORE (the bucket is per bot).

    \b
    Example (scrape config: targets ['metrics-host:9808']):
      BLAZECAST_KEYSTORE=bot.json blazecast metrics serve --address 0.0.0.0
    """
    registry = registry_for(_collector())
    wanted = context.settings().metrics_port if port is None else port
    try:
        server, thread = start_http_server(wanted, address, registry=registry)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {address}:{wanted}: {error}") from None
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    click.echo(f"metrics at http://{address}:{server.server_port}/metrics (Ctrl-C to stop)")
    while not stop.wait(0.5):
        pass
    server.shutdown()
    thread.join(timeout=5)
    click.echo("metrics server stopped")


@metrics.command()
def show() -> None:
    """Print the metrics once, in Prometheus' text format.

    \b
    Example:
      blazecast metrics show | grep blazecast_announcement_messages
    """
    click.echo(generate_latest(registry_for(_collector())).decode(), nl=False)


COMMANDS = [metrics]
