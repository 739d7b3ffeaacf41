"""The one process that joins the host's loopback and the cluster's private network.

The control plane listens on ``127.0.0.1`` of the host; real nodes and their pods live in network
namespaces Hodegos made (:mod:`localcluster.network`), and the host has no route into them and gets
none. This process bridges the two without touching the host's addresses, routes or firewall:

- **pods and kubelets -> API server**: a TCP listener created *inside* the cluster's switch namespace on
  the API server's advertised address (``172.30.0.1:<port>``), each connection spliced to
  ``127.0.0.1:<port>`` on the host (TLS passes through untouched, client certificates included);
- **API server -> kubelets, pods, aggregated APIs** (``kubectl logs/exec/port-forward``, metrics-server):
  an HTTP ``CONNECT`` proxy on a Unix socket (the API server's egress selector, ``cluster`` egress), each
  tunnel dialled from a socket created inside the switch namespace.

A socket keeps the network namespace it was created in, so one single-threaded process switches
namespace (``setns``) only around ``socket()`` calls and does all I/O with asyncio on the host side.

Run as ``python -m localcluster.netproxy --netns-pid PID --listen IP:PORT --upstream 127.0.0.1:PORT
--egress-socket PATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import ipaddress
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class Namespaces:
    """File descriptors of the host's network namespace and the cluster's."""

    def __init__(self, netns_pid: int) -> None:
        self.host = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.cluster = os.open(f"/proc/{netns_pid}/ns/net", os.O_RDONLY)

    @contextlib.contextmanager
    def inside(self) -> Iterator[None]:
        setns(self.cluster)
        try:
            yield
        finally:
            setns(self.host)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()


async def _splice(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter], b: tuple[asyncio.StreamReader, asyncio.StreamWriter]
) -> None:
    await asyncio.gather(_pipe(a[0], b[1]), _pipe(b[0], a[1]))
    for _, writer in (a, b):
        writer.close()


def parse_connect(head: bytes) -> tuple[str, int]:
    """``CONNECT host:port HTTP/1.1`` -> (IP, port); only literal IPv4 addresses (nothing is resolved)."""
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split()
    if len(parts) != 3 or parts[0] != "CONNECT" or not parts[2].startswith("HTTP/"):
        raise ValueError(f"not a CONNECT request: {line!r}")
    host, _, port = parts[1].rpartition(":")
    address = ipaddress.IPv4Address(host.strip("[]"))
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad port in {line!r}")
    return str(address), int(port)


class Proxy:
    def __init__(self, ns: Namespaces, upstream: tuple[str, int]) -> None:
        self.ns = ns
        self.upstream = upstream

    async def to_apiserver(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        await _splice((reader, writer), upstream)

    async def egress(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            host, port = parse_connect(head)
        except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            writer.close()
            return
        with self.ns.inside():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), 10)
            target = await asyncio.open_connection(sock=sock)
        except (OSError, TimeoutError) as exc:
            sock.close()
            writer.write(f"HTTP/1.1 502 Bad Gateway\r\n\r\n{exc}".encode())
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await _splice((reader, writer), target)


async def serve(ns: Namespaces, listen: tuple[str, int], upstream: tuple[str, int], egress: Path) -> None:
    proxy = Proxy(ns, upstream)
    with ns.inside():
        inbound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        inbound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        inbound.bind(listen)
    inbound.listen(512)
    inbound.setblocking(False)
    egress.unlink(missing_ok=True)
    servers = [
        await asyncio.start_server(proxy.to_apiserver, sock=inbound),
        await asyncio.start_unix_server(proxy.egress, path=str(egress)),
    ]
    egress.chmod(0o600)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"netproxy: {listen[0]}:{listen[1]} -> {upstream[0]}:{upstream[1]}; egress on {egress}", flush=True)
    await stop.wait()
    for server in servers:
        server.close()
    egress.unlink(missing_ok=True)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcluster.netproxy")
    parser.add_argument("--netns-pid", type=int, required=True)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--egress-socket", required=True)
    args = parser.parse_args(argv)
    try:
        ns = Namespaces(args.netns_pid)
        asyncio.run(serve(ns, _address(args.listen), _address(args.upstream), Path(args.egress_socket)))
    except OSError as exc:
        print(f"netproxy: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
