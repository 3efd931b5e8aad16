"""gunicorn workers share the load of a burst of keep-alive connections."""

from __future__ import annotations

import collections
import http.client
import os
import re
import time
import urllib.parse
from pathlib import Path

PATH = "/collections/communes/items?f=json&limit=1"


def server_side_sockets(port: int) -> set[str]:
    """Inodes of established TCP sockets whose local port is ``port`` (the server's ends)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def connections_per_process(port: int) -> collections.Counter:
    """Process id -> number of the server's established connections it holds."""
    wanted = server_side_sockets(port)
    counts: collections.Counter = collections.Counter()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        for link in links:
            match = re.fullmatch(r"socket:\[(\d+)\]", link)
            if match and match.group(1) in wanted:
                counts[int(pid)] += 1
    return counts


def burst(port: int) -> collections.Counter:
    """Open 8 connections at once, one request each, kept alive; who holds them."""
    clients = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(8)]
    for client in clients:
        client.connect()
    try:
        for client in clients:
            client.request("GET", PATH)
            response = client.getresponse()
            response.read()
            assert response.status == 200
            assert response.getheader("Connection", "keep-alive").lower() != "close"
        return connections_per_process(port)
    finally:
        for client in clients:
            client.close()


def test_a_burst_of_keepalive_connections_reaches_both_workers(api):
    port = urllib.parse.urlsplit(api).port
    deadline = time.monotonic() + 60
    while len(burst(port)) < 2:  # the second worker may still be importing the app
        assert time.monotonic() < deadline, "the second worker never took a connection"
        time.sleep(0.5)
    for _ in range(3):
        counts = burst(port)
        assert sum(counts.values()) == 8, counts
        # Without the balancing worker, all 8 often landed on one worker (half the throughput).
        assert len(counts) == 2 and max(counts.values()) <= 6, counts
