"""Where the commands write their output (-o): a file atomically, a device or a pipe as it is, a link's file."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from reporter.cli import write_output


def test_a_file_is_replaced_whole(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "out.xml"
    write_output(b"<a/>", str(out))
    write_output("<b/>", str(out))
    assert out.read_text() == "<b/>" and [p.name for p in out.parent.iterdir()] == ["out.xml"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_a_pipe_is_written_to_and_stays_a_pipe(tmp_path: Path) -> None:
    """-o /dev/null or a named pipe: an atomic rename would put a regular file in its place (as root, over
    /dev/null, for every program on the machine: it happened). The pipe stands for the device here, so that a
    failure of this test cannot do that again."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_output(b"<batch/>", str(fifo))
    reader.join(timeout=10)
    assert received == [b"<batch/>"] and stat.S_ISFIFO(fifo.stat().st_mode)


def test_through_a_link_its_file_is_replaced_and_the_link_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.html"
    real.write_text("old")
    link = tmp_path / "latest.html"
    link.symlink_to(real)
    write_output("new", str(link))
    assert link.is_symlink() and real.read_text() == "new"
