"""What keeps a run directory safe while a run writes it: one writer at a time, and a stop that saves.

- **One writer.** A run holds an OS lock (``fcntl.flock``) on ``run_dir/run.lock`` for its lifetime.
  The OS drops it when the process dies, however it dies (``kill -9`` included), so no stale lock
  is ever left behind; a second launch into the directory is refused, naming the holder's pid.
- **Stopping is saving.** SIGINT (Ctrl-C) and SIGTERM (Slurm's preemption, ``kill``) ask the loop to
  stop: it finishes the batch of updates in progress, writes a checkpoint at that batch's end (so
  the resumed run repeats the uninterrupted one exactly) and exits with 130 / 143. A second signal
  stops at once, without a checkpoint.
- **Checkpoints by wall time**, beside the ones by frames, so a killed run loses at most
  ``checkpoint.minutes`` of work.

The loop reads the guard of the run in progress through :func:`active`.
"""

from __future__ import annotations

import fcntl
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from gild_torchrl.training.run_dir import LOCK_FILE, RunDirError

SIGNALS = (signal.SIGINT, signal.SIGTERM)
F = TypeVar("F", bound=Callable)


class RunDirLocked(RunDirError):
    """The run directory is being written by another process."""


def holder(run_dir: Path) -> int | None:
    """The pid of the process that holds ``run_dir``'s lock, or None when nobody does (0 when unknown)."""
    path = Path(run_dir) / LOCK_FILE
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_pid(fd)
    finally:
        os.close(fd)  # closing drops a lock this call took
    return None


def _read_pid(fd: int) -> int:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0)
    except (OSError, ValueError):
        return 0


class RunGuard:
    """The lock on a run directory, the stop requested by a signal, and the wall-time checkpoint clock."""

    def __init__(self, run_dir: Path, minutes: float | None) -> None:
        """Take the lock (raises :class:`RunDirLocked` when another process holds it) and catch the stop signals."""
        self.run_dir = Path(run_dir)
        self.seconds = float(minutes) * 60 if minutes else None
        self.signal: int | None = None
        self.last_checkpoint = time.monotonic()
        self._handlers: dict[int, object] = {}
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(self._fd)
            os.close(self._fd)
            self._fd = None
            who = f"process {pid}" if pid else "another process"
            raise RunDirLocked(f"run_dir={str(self.run_dir)!r} is being written by {who} (it holds {LOCK_FILE}); "
                               f"wait for that run to end or stop it, then launch again.") from None
        if threading.current_thread() is threading.main_thread():  # signal handlers can only be set there
            for sig in SIGNALS:
                self._handlers[sig] = signal.signal(sig, self._on_signal)

    def claim(self) -> None:
        """Record this process as the writer (once the launch is accepted, so a refused one changes no file)."""
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    @property
    def stopping(self) -> bool:
        return self.signal is not None

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal).name if self.signal else ""

    def checkpoint_due(self) -> bool:
        """A stop was asked for, or ``checkpoint.minutes`` have passed since the last checkpoint."""
        return self.stopping or (self.seconds is not None and time.monotonic() - self.last_checkpoint >= self.seconds)

    def checkpointed(self) -> None:
        self.last_checkpoint = time.monotonic()

    def _on_signal(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if self.stopping:
            print(f"{name} again: stopping now, without a checkpoint.", file=sys.stderr, flush=True)
            raise SystemExit(128 + signum)
        self.signal = signum
        print(f"{name}: finishing the batch in progress, then writing a checkpoint (send it again to stop at once).",
              file=sys.stderr, flush=True)

    def release(self) -> None:
        """Give back the signal handlers and the lock."""
        for sig, handler in self._handlers.items():
            signal.signal(sig, handler)
        self._handlers = {}
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


_ACTIVE: list[RunGuard] = []


def take(run_dir: Path, minutes: float | None) -> RunGuard:
    """Guard ``run_dir`` for the run that is starting in this process; :func:`guarded` releases it."""
    guard = RunGuard(run_dir, minutes)
    _ACTIVE.append(guard)
    return guard


def active() -> RunGuard | None:
    """The guard of the run in progress in this process (None outside a run)."""
    return _ACTIVE[-1] if _ACTIVE else None


def guarded(train: F) -> F:
    """Release the guard a run took (:func:`take`) however the run ends: returned, raised or stopped."""
    @functools.wraps(train)
    def wrapper(*args, **kwargs):
        depth = len(_ACTIVE)
        try:
            return train(*args, **kwargs)
        finally:
            while len(_ACTIVE) > depth:
                _ACTIVE.pop().release()
    return wrapper  # type: ignore[return-value]
