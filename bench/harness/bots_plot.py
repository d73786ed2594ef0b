"""The picture of ``bench.bots``: send rate over time per bot (against its quota) and per
announcement (the capped one against its cap), from the simulator's per-message stamps."""

from __future__ import annotations


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
        top.step(xs, ys, where="post", label=f"{name}: all its announcements")
    top.axhline(
        quota / 60, color="tab:red", linestyle="--", label=f"each bot's quota {quota:,}/min"
    )
    top.set_ylabel("accepted per second")
    top.set_ylim(0, quota / 60 * 1.3)
    top.legend(loc="lower center", fontsize="small", ncol=2)
    top.set_title("Three bots at once, each at its own quota (simulator's counts)")
    for name in (name for name in series if " " in name):
        xs, ys = _xy(series[name], first)
        bottom.step(xs, ys, where="post", label=f"announcement {name}")
    bottom.axhline(cap / 60, color="tab:purple", linestyle=":", label=f"cap {cap:,}/min")
    bottom.axhline((quota - cap) / 60, color="tab:gray", linestyle=":", label="bot 1's quota − cap")
    bottom.set_ylabel("accepted per second")
    bottom.set_xlabel("seconds since the first accepted message")
    bottom.legend(loc="upper right", fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(path_png, dpi=110)
    plt.close(fig)


def _xy(points: list[list[int]], first: int) -> tuple[list[int], list[int]]:
    return [s - first for s, _ in points], [n for _, n in points]
