"""The asyncio shell under the SIP core: UDP, TCP and TLS listeners and the connection table.

It turns bytes from sockets into parsed messages with their source :class:`Peer`, and performs
:class:`Transmit` effects. It knows SIP bytes and addresses, never tenants.

Connection rules (RFC 3261 §18): a response goes back over the connection its request came on
(§18.2.2); a request to a peer we hold a connection to reuses it, which is how a phone behind NAT
that registered over TCP or TLS is reached; otherwise a new connection is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from ringfence.sip.effects import Peer
from ringfence.sip.message import Request, Response
from ringfence.sip.parser import Frame, KeepAlive, StreamFramer

__all__ = ["Listen", "Network", "ReceivedBytes"]

log = structlog.get_logger("ringfence.transport")

#: What the network hands up: raw bytes of one message and where they came from.
ReceivedBytes = Callable[[bytes, Peer], None]

_CONNECT_TIMEOUT = 5.0
_IDLE_TIMEOUT = 3600.0  # a registered phone refreshes long before this


@dataclass(frozen=True, slots=True, kw_only=True)
class Listen:
    """One listening address: transport (``UDP``, ``TCP`` or ``TLS``), host and port."""

    transport: str
    host: str
    port: int


_STUN_COOKIE = b"\x21\x12\xa4\x42"

#: The SIP UDP socket's receive buffer. The kernel's default (about 200 kB) holds some 10 ms of
#: a 20,000-packet/s flood: whenever the loop is off the CPU that long, the kernel drops the
#: phones' packets with the flood's before the perimeter sees either (bench/perimeter_flood.py:
#: thousands of drops and 0.5-1.5 s call set-up under a flood, none and 25 ms with 4 MB). The
#: kernel caps it at net.core.rmem_max; the size granted is logged.
UDP_RECEIVE_BUFFER = 4 * 1024 * 1024


def _widen_receive_buffer(sock: socket.socket | None) -> None:
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    except OSError as error:
        log.warning("udp_receive_buffer_unchanged", error=str(error))
        return
    # Linux reports twice what it grants (half is its bookkeeping).
    if granted < UDP_RECEIVE_BUFFER:
        log.info(
            "udp_receive_buffer",
            bytes=granted,
            wanted=UDP_RECEIVE_BUFFER,
            hint="raise net.core.rmem_max for more",
        )


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, network: Network, transport_name: str) -> None:
        self._network = network
        self._name = transport_name

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        host, port = str(addr[0]), int(str(addr[1]))
        if data in (b"\r\n\r\n", b"\r\n"):
            return  # RFC 5626 §4.4.1 keep-alive on UDP
        if len(data) >= 20 and data[4:8] == _STUN_COOKIE:
            # RFC 5389 §6: a STUN message (a phone's keep-alive, RFC 5626 §4.4.2). STUN is not
            # answered; dropped here, it never counts as a malformed SIP message.
            return
        self._network.deliver(data, Peer(transport=self._name, host=host, port=port))

    def error_received(self, exc: Exception) -> None:
        log.debug("udp_error", error=str(exc))


class _Connection:
    """One TCP or TLS connection: a framer on the way in, a writer on the way out."""

    def __init__(self, peer: Peer, writer: asyncio.StreamWriter) -> None:
        self.peer = peer
        self.writer = writer

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)


class Network:
    """Owns every socket. Start it with :meth:`start`, stop it with :meth:`close`."""

    def __init__(
        self,
        received: ReceivedBytes,
        *,
        tls_context: ssl.SSLContext | None = None,
        client_tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._received = received
        self._tls_server = tls_context
        self._tls_client = client_tls_context
        self._udp: dict[str, asyncio.DatagramTransport] = {}
        self._servers: list[asyncio.Server] = []
        self._connections: dict[tuple[str, str, int], _Connection] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.bound: list[Listen] = []

    def deliver(self, data: bytes, peer: Peer) -> None:
        self._received(data, peer)

    async def start(self, listens: list[Listen]) -> None:
        loop = asyncio.get_running_loop()
        for spec in listens:
            name = spec.transport.upper()
            if name == "UDP":
                transport, _ = await loop.create_datagram_endpoint(
                    functools.partial(_Datagrams, self, name), local_addr=(spec.host, spec.port)
                )
                _widen_receive_buffer(transport.get_extra_info("socket"))
                sock = transport.get_extra_info("sockname")
                self._udp[name] = transport
                self.bound.append(Listen(transport=name, host=spec.host, port=int(sock[1])))
            elif name in ("TCP", "TLS"):
                context = self._tls_server if name == "TLS" else None
                if name == "TLS" and context is None:
                    raise ValueError("TLS listener without a certificate")
                server = await asyncio.start_server(
                    functools.partial(self._accepted, name=name),
                    host=spec.host,
                    port=spec.port,
                    ssl=context,
                )
                self._servers.append(server)
                sock = server.sockets[0].getsockname()
                self.bound.append(Listen(transport=name, host=spec.host, port=int(sock[1])))
            else:
                raise ValueError(f"unknown transport {spec.transport!r}")

    def port(self, transport: str) -> int:
        for spec in self.bound:
            if spec.transport == transport.upper():
                return spec.port
        raise LookupError(transport)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for conn in list(self._connections.values()):
            conn.writer.close()
        for transport in self._udp.values():
            transport.close()
        for task in list(self._tasks):
            task.cancel()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- streams ------------------------------------------------------------------------------

    async def _accepted(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, name: str
    ) -> None:
        address = writer.get_extra_info("peername")
        peer = Peer(transport=name, host=str(address[0]), port=int(address[1]))
        await self._serve_connection(self._register(peer, writer), reader)

    def _register(self, peer: Peer, writer: asyncio.StreamWriter) -> _Connection:
        conn = _Connection(peer, writer)
        self._connections[(peer.transport, peer.host, peer.port)] = conn
        return conn

    async def _serve_connection(self, conn: _Connection, reader: asyncio.StreamReader) -> None:
        peer, writer = conn.peer, conn.writer
        key = (peer.transport, peer.host, peer.port)
        framer = StreamFramer()
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(reader.read(65536), _IDLE_TIMEOUT)
                except TimeoutError:
                    break
                if not chunk:
                    break
                try:
                    events = framer.feed(chunk)
                except Exception as error:
                    log.info("stream_framing_error", peer=str(peer), error=str(error))
                    break
                for event in events:
                    if isinstance(event, KeepAlive):
                        conn.send(b"\r\n")  # RFC 5626 §3.5.1 pong
                    elif isinstance(event, Frame):
                        self._received(event.data, peer)
        except (ConnectionError, ssl.SSLError, OSError) as error:
            log.debug("stream_closed", peer=str(peer), error=str(error))
        finally:
            if self._connections.get(key) is conn:
                del self._connections[key]
            writer.close()

    async def _connect(self, peer: Peer) -> _Connection | None:
        context = self._tls_client if peer.transport == "TLS" else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(peer.host, peer.port, ssl=context), _CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError, ssl.SSLError) as error:
            log.info("connect_failed", peer=str(peer), error=str(error))
            return None
        conn = self._register(peer, writer)
        task = asyncio.get_running_loop().create_task(self._serve_connection(conn, reader))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return conn

    # -- sending ------------------------------------------------------------------------------

    def has_flow(self, peer: Peer) -> bool:
        """True when a message to ``peer`` can go now: UDP, or a live TCP/TLS connection."""
        name = peer.transport.upper()
        return name == "UDP" or (name, peer.host, peer.port) in self._connections

    def send(self, message: Request | Response, peer: Peer, on_error: Callable[[], None]) -> None:
        """Send now when the way is open; otherwise connect first, in the background."""
        data = message.to_bytes()
        name = peer.transport.upper()
        if name == "UDP":
            udp = self._udp.get("UDP")
            if udp is None or udp.is_closing():
                on_error()
                return
            udp.sendto(data, (peer.host, peer.port))
            return
        conn = self._connections.get((name, peer.host, peer.port))
        if conn is not None:
            conn.send(data)
            return
        if isinstance(message, Response):
            # RFC 3261 §18.2.2: a response over a stream whose connection is gone would go to the
            # sent-by address; phones behind NAT cannot be reached that way, so it is dropped.
            on_error()
            return
        task = asyncio.get_running_loop().create_task(self._connect_and_send(peer, data, on_error))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect_and_send(
        self, peer: Peer, data: bytes, on_error: Callable[[], None]
    ) -> None:
        conn = await self._connect(peer)
        if conn is None:
            on_error()
            return
        conn.send(data)
