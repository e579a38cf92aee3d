"""Progress bars for `GENOT.fit`: tqdm when installed (``tqdm.auto`` picks a widget in
Jupyter and text in a terminal), otherwise a plain bar on stderr that redraws in place in
a terminal and prints a line every 10% elsewhere (notebooks, logs)."""

from __future__ import annotations

import sys
import time
from typing import Callable


class _TextBar:
    def __init__(self, total: int, desc: str):
        self.total, self.desc = total, desc
        self.tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        self.next_decile = 1
        self.start = time.monotonic()

    def __call__(self, it: int, total: int, loss: float) -> None:
        elapsed = time.monotonic() - self.start
        line = f"{self.desc} {it}/{total} loss {loss:.4f} [{elapsed:.0f} s]"
        if self.tty:
            done = int(30 * it / max(total, 1))
            sys.stderr.write(f"\r{self.desc} [{'#' * done}{'.' * (30 - done)}] {line[len(self.desc) + 1:]}")
            sys.stderr.flush()
        elif it * 10 >= self.next_decile * total:
            self.next_decile = it * 10 // max(total, 1) + 1
            print(line, file=sys.stderr, flush=True)

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
