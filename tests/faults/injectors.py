"""What goes wrong during a campaign broadcast: each injector runs in a thread beside it.

An injector gets a ``FaultContext`` (the stack, a seeded random generator, and a way to tell
that the broadcast is over) and breaks things until the broadcast completes or its one fault is
done. Processes are killed with SIGKILL (no warm shutdown, no cleanup) and restarted the way a
process supervisor would, with the same command line. ``supervise`` is that supervisor for the
whole run: like docker compose's ``restart: unless-stopped``, it starts again any process that
exited by itself, and notes it.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from worker.supervisor import Child


def _mixin_reached(stack: Any) -> int:
    return int(stack.sim.stats()["visible_messages"])


@dataclass
class FaultContext:
    #: A ``BenchStack`` (Mixin) or an ``ImRestStack``: both have ``group``, ``engines``, ``sim``.
    stack: Any
    rng: random.Random
    finished: threading.Event
    recipients: int
    log: list[str] = field(default_factory=list)
    # Held while a process is being killed and restarted, so the supervisor does not race it.
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: How many users the provider's simulator says the message reached so far.
    reached: Callable[[Any], int] = _mixin_reached

    def note(self, text: str) -> None:
        self.log.append(f"{time.strftime('%H:%M:%S')} {text}")

    def wait_for_progress(self, share: float) -> bool:
        """Until the simulator accepted ``share`` of the audience; False if the run ended first."""
        while not self.finished.is_set():
            try:
                if self.reached(self.stack) >= share * self.recipients:
                    return True
            except OSError:
                pass
            self.finished.wait(0.2)
        return False


Injector = Callable[[FaultContext], None]


def _child(stack: Any, name: str) -> Child:
    return next(c for c in stack.group.children if c.name == name)


def _restart(stack: Any, child: Child) -> None:
    args = [str(a) for a in child.process.args[3:]]  # type: ignore[index]  # after "-m worker.cli"
    stack.group.children.remove(child)
    stack.group.start(child.name, *args)


def kill_and_restart(ctx: FaultContext, name: str, down_seconds: float = 0.0) -> None:
    """SIGKILL a child's whole process group (the Celery main and its pool), then start it
    again with the same arguments after ``down_seconds``."""
    with ctx.lock:
        child = _child(ctx.stack, name)
        if child.alive():
            os.killpg(child.process.pid, signal.SIGKILL)
        child.process.wait(10)
        time.sleep(down_seconds)
        _restart(ctx.stack, child)


def supervise(ctx: FaultContext) -> None:
    """Restart every process that exits by itself, as ``restart: unless-stopped`` does."""
    while not ctx.finished.wait(0.5):
        with ctx.lock:
            for child in ctx.stack.group.dead():
                code = child.process.returncode
                _restart(ctx.stack, child)
                ctx.note(f"{child.name} exited by itself (code {code}); supervisor restarted it")


def sigkill_random_workers(ctx: FaultContext) -> None:
    """Every 2-5 s, SIGKILL one random worker process: a pool process of a send worker (Celery
    replaces it), or a whole worker (a send worker or the control worker, restarted at once)."""
    if not ctx.wait_for_progress(0.05):
        return
    while not ctx.finished.wait(ctx.rng.uniform(2.0, 5.0)):
        whole = sorted(c.name for c in ctx.stack.group.children if c.name.startswith("worker-"))
        pool = []
        for name in whole:
            if name.startswith("worker-send"):
                with contextlib.suppress(psutil.Error):
                    root = psutil.Process(_child(ctx.stack, name).process.pid)
                    pool += [p.pid for p in root.children()]
        pick = ctx.rng.randrange(len(whole) + len(pool))
        if pick < len(whole):
            kill_and_restart(ctx, whole[pick])
            ctx.note(f"SIGKILL {whole[pick]} (whole worker), restarted")
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(sorted(pool)[pick - len(whole)], signal.SIGKILL)
                ctx.note(
                    f"SIGKILL a pool process of a send worker ({sorted(pool)[pick - len(whole)]})"
                )


def restart_redis(ctx: FaultContext) -> None:
    """At 30 %: Redis is SIGKILLed and back 2 s later with what its append-only file kept."""
    if ctx.wait_for_progress(0.3):
        down = ctx.stack.engines.restart_redis(down_seconds=2.0)
        ctx.note(f"Redis SIGKILLed and restarted, down {down:.1f} s")


def restart_postgres(ctx: FaultContext) -> None:
    """At 30 %: Postgres is crash-restarted (immediate shutdown, WAL replay)."""
    if ctx.wait_for_progress(0.3):
        took = ctx.stack.engines.restart_postgres()
        ctx.note(f"Postgres crash-restarted in {took:.1f} s")


def kill_listener(ctx: FaultContext) -> None:
    """At 30 %: SIGKILL the listener; a supervisor restarts it 3 s later."""
    if ctx.wait_for_progress(0.3):
        kill_and_restart(ctx, "listener", down_seconds=3.0)
        ctx.note("listener SIGKILLed, restarted after 3 s")


def storm_429_imrest(ctx: FaultContext) -> None:
    """At 30 %: for 5 s every IM REST send is answered 429 (the simulator's fault plan)."""
    if ctx.wait_for_progress(0.3):
        ctx.stack.sim.set_faults(codes={429: 1.0}, seed=ctx.rng.randrange(1 << 30))
        ctx.note("429 storm of 5 s")
        ctx.finished.wait(5.0)
        ctx.stack.sim.set_faults()


def storm_429(ctx: FaultContext) -> None:
    """At 30 %: for 5 s every sending request is answered 429."""
    if ctx.wait_for_progress(0.3):
        ctx.stack.sim.set_faults(
            storm={"code": 429, "seconds": 5.0}, seed=ctx.rng.randrange(1 << 30)
        )
        ctx.note("429 storm of 5 s")
