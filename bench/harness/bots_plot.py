"""The picture of ``bench.bots``: send rate over time per bot (against its quota) and per
announcement (the capped one against its cap), from the simulator's per-message stamps.

Batches are 100 messages, so a per-second count jumps between multiples of 100; the curves are
the mean over the ``SMOOTH_SECONDS`` ending at each second (seconds without traffic count as 0)."""

from __future__ import annotations

SMOOTH_SECONDS = 5


def plot(series: dict[str, list[list[int]]], quota: int, cap: int, path_png: str) -> None:
    """``series``: ``{bot or announcement name: [[unix second, messages], …]}``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = min(s for points in series.values() for s, _ in points)
    bots = [name for name in series if " " not in name]  # announcements are "bot-N something"
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    for name in bots:
        xs, ys = _xy(series[name], first)
        top.plot(xs, ys, label=f"{name}: all its announcements")
    top.axhline(
        quota / 60, color="tab:red", linestyle="--", label=f"each bot's quota {quota:,}/min"
    )
    top.set_ylabel(f"accepted per second ({SMOOTH_SECONDS} s mean)")
    top.set_ylim(0, quota / 60 * 1.3)
    top.legend(loc="lower center", fontsize="small", ncol=2)
    top.set_title("Three bots at once, each at its own quota (simulator's counts)")
    for name in (name for name in series if " " in name):
        xs, ys = _xy(series[name], first)
        bottom.plot(xs, ys, label=f"announcement {name}")
    bottom.axhline(cap / 60, color="tab:purple", linestyle=":", label=f"cap {cap:,}/min")
    bottom.axhline((quota - cap) / 60, color="tab:gray", linestyle=":", label="bot 1's quota − cap")
    bottom.set_ylabel(f"accepted per second ({SMOOTH_SECONDS} s mean)")
    bottom.set_xlabel("seconds since the first accepted message")
    bottom.set_ylim(0, quota / 60 * 1.3)
    bottom.legend(loc="upper right", fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(path_png, dpi=110)
    plt.close(fig)


def _xy(points: list[list[int]], first: int) -> tuple[list[int], list[float]]:
    counts = dict((second, n) for second, n in points)
    seconds = range(min(counts), max(counts) + 1)
    means = [
        sum(counts.get(s - k, 0) for k in range(SMOOTH_SECONDS)) / SMOOTH_SECONDS for s in seconds
    ]
    return [s - first for s in seconds], means
