"""Progress bars for `GENOT.fit`: tqdm when installed (``tqdm.auto`` picks a widget in
Jupyter and text in a terminal), otherwise a plain bar on stderr that redraws in place in
a terminal and prints a line every 10% elsewhere (notebooks, logs), in the CLI's words:
iteration, loss, iterations per second, time left."""

from __future__ import annotations

import sys
import time
from typing import Callable


def _duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def line_of(desc: str, it: int, total: int, loss: float, elapsed: float) -> str:
    """The plain progress line, as ``genot fit`` prints it in a log:
    ``fit: iteration 1200/5000 (24%), loss 0.1234, 48.1 it/s, ETA 1m19s, 25 s elapsed``."""
    parts = [f"iteration {it}/{total} ({100 * it / max(total, 1):.0f}%)", f"loss {loss:.4f}"]
    if it > 0 and elapsed > 0:
        rate = it / elapsed
        parts.append(f"{rate:.1f} it/s")
        if it < total:
            parts.append(f"ETA {_duration((total - it) / rate)}")
    parts.append(f"{_duration(elapsed)} elapsed")
    return f"{desc}: " + ", ".join(parts)


class _TextBar:
    def __init__(self, total: int, desc: str):
        self.total, self.desc = total, desc
        self.tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        self.next_decile = 1
        self.start = time.monotonic()

    def __call__(self, it: int, total: int, loss: float) -> None:
        elapsed = time.monotonic() - self.start
        if self.tty:
            done = int(30 * it / max(total, 1))
            line = f"{it}/{total} loss {loss:.4f} [{elapsed:.0f} s]"
            sys.stderr.write(f"\r{self.desc} [{'#' * done}{'.' * (30 - done)}] {line}")
            sys.stderr.flush()
        elif it * 10 >= self.next_decile * total:
            self.next_decile = it * 10 // max(total, 1) + 1
            print(line_of(self.desc, it, total, loss, elapsed), file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()


def progress_bar(total: int, desc: str = "fit") -> tuple[Callable[[int, int, float], None], Callable[[], None]]:
    """``(update(iteration, total, loss), close())`` for a run of ``total`` iterations."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        bar = _TextBar(total, desc)
        return bar, bar.close
    tq = tqdm(total=total, desc=desc, unit="it")

    def update(it: int, _total: int, loss: float) -> None:
        tq.update(it - tq.n)
        tq.set_postfix(loss=f"{loss:.4f}", refresh=False)

    return update, tq.close
