"""Who listens on a TCP port (Linux /proc), so a test session can name what holds a slot's port."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_LISTEN = "0A"  # the TCP state in /proc/net/tcp


@dataclass(frozen=True)
class Holder:
    """A process listening on a port; ``pid`` is None when /proc does not tell (another user's)."""

    pid: int | None
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.command})" if self.pid else self.command


def command_line(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def parent_pid(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def holders(port: int) -> list[Holder]:
    """The processes listening on ``port`` on any local address (empty: the port is free)."""
    inodes = _listening_inodes(port)
    if not inodes:
        return []
    sockets = {f"socket:[{inode}]" for inode in inodes}
    found = []
    for proc in PROC.iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = os.listdir(proc / "fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(proc / "fd" / fd)
            except OSError:
                continue
            if target in sockets:
                found.append(Holder(int(proc.name), command_line(int(proc.name))))
                break
    return found or [Holder(None, "a process this user cannot inspect")]
