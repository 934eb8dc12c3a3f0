"""Fan-out: who is connected, who subscribes to what, and delivery of encoded messages.

Generic over protocols: a key is any hashable value a protocol chooses (the native
protocol uses channel names for public data and (channel, user id) for private data),
and a message is bytes encoded once by the caller. `publish` wraps them in one frame
and offers that same frame to every subscriber's queue, in subscription order; it
never awaits, so publishing from the sequencer's subscriber callback never waits for a
client. The connection limit (`websocket.max_clients`) counts every protocol's clients.

`publish_batch` publishes the messages of one flush together: a connection that takes
batches gets all of them that it subscribes to in one frame (joined by the protocol's
`combine`, built once per distinct set of messages and shared by every connection with
that set). Every frame costs each client a system call and a wake-up, so under load this
is what keeps a thousand clients cheap.
"""

from collections.abc import Callable, Hashable, Iterator, Sequence

from trade_engine.edge.connection import Connection, Frame
from trade_engine.observability.metrics import Metrics


class Hub:
    def __init__(self, max_clients: int, metrics: Metrics | None = None) -> None:
        self.max_clients = max_clients
        self._connections: dict[Connection, None] = {}
        self._subscribers: dict[Hashable, dict[Connection, None]] = {}
        self._metrics = metrics

    # -- connections --

    def register(self, connection: Connection) -> bool:
        """Admit a client; False when the server already has `max_clients`."""
        if len(self._connections) >= self.max_clients:
            return False
        self._connections[connection] = None
        if self._metrics is not None:
            self._metrics.ws_clients.set(len(self._connections))
        return True

    def unregister(self, connection: Connection) -> None:
        for key in list(connection.keys):
            self.unsubscribe(key, connection)
        if connection in self._connections:
            del self._connections[connection]
            if self._metrics is not None:
                self._metrics.ws_clients.set(len(self._connections))

    def busy_fraction(self) -> float:
        """The share of clients with frames still waiting to be written."""
        connections = self._connections
        if not connections:
            return 0.0
        return sum(1 for connection in connections if connection.queued) / len(connections)

    def check_backlogs(self, now: float) -> None:
        """Close every client that fell behind (see `Connection.check_backlog`)."""
        for connection in list(self._connections):
            connection.check_backlog(now)

    def connections(self) -> Iterator[Connection]:
        return iter(list(self._connections))

    def __len__(self) -> int:
        return len(self._connections)

    # -- subscriptions --

    def subscribe(self, key: Hashable, connection: Connection) -> None:
        subscribers = self._subscribers.get(key)
        if subscribers is None:
            subscribers = self._subscribers[key] = {}
        subscribers[connection] = None
        connection.keys.add(key)

    def unsubscribe(self, key: Hashable, connection: Connection) -> None:
        connection.keys.discard(key)
        subscribers = self._subscribers.get(key)
        if subscribers is not None:
            subscribers.pop(connection, None)
            if not subscribers:
                del self._subscribers[key]

    def has_subscribers(self, key: Hashable) -> bool:
        return key in self._subscribers

    def subscriber_count(self, key: Hashable) -> int:
        subscribers = self._subscribers.get(key)
        return 0 if subscribers is None else len(subscribers)

    # -- delivery --

    def publish(self, key: Hashable, data: bytes, commit_ns: int = 0) -> int:
        """Offer `data` to every subscriber of `key`; how many took it."""
        subscribers = self._subscribers.get(key)
        if not subscribers:
            return 0
        return self.publish_frame(key, Frame(data, commit_ns))

    def publish_batch(
        self, messages: Sequence[tuple[Hashable, bytes, int]], combine: Callable[[list[bytes]], bytes]
    ) -> int:
        """Publish (key, data, commit_ns) messages, in order; how many frames were taken."""
        subscribers = self._subscribers
        batched: dict[Connection, list[int]] = {}
        taken = 0
        for index, (key, data, commit_ns) in enumerate(messages):
            connections = subscribers.get(key)
            if not connections:
                continue
            frame: Frame | None = None
            for connection in list(connections):
                if connection.batching:
                    indexes = batched.get(connection)
                    if indexes is None:
                        batched[connection] = [index]
                    else:
                        indexes.append(index)
                    continue
                if frame is None:
                    frame = Frame(data, commit_ns)
                if connection.offer(frame):
                    taken += 1
        frames: dict[tuple[int, ...], Frame] = {}
        for connection, indexes in batched.items():
            signature = tuple(indexes)
            frame = frames.get(signature)
            if frame is None:
                if len(indexes) == 1:
                    _, data, commit_ns = messages[indexes[0]]
                else:
                    data = combine([messages[i][1] for i in indexes])
                    commit_ns = min((messages[i][2] for i in indexes if messages[i][2]), default=0)
                frame = frames[signature] = Frame(data, commit_ns)
            if connection.offer(frame):
                taken += 1
        if self._metrics is not None and taken:
            self._metrics.ws_messages.inc(taken)
        return taken

    def publish_frame(self, key: Hashable, frame: Frame) -> int:
        subscribers = self._subscribers.get(key)
        if not subscribers:
            return 0
        taken = 0
        # A copy: a client that overflows is closed, and may be unsubscribed meanwhile.
        for connection in list(subscribers):
            if connection.offer(frame):
                taken += 1
        if self._metrics is not None and taken:
            self._metrics.ws_messages.inc(taken)
        return taken
