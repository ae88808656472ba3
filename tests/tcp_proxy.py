"""A TCP proxy run as its own process, so that a test can freeze (SIGSTOP) or kill it.

``python -m tests.tcp_proxy LISTEN_PORT TARGET_HOST TARGET_PORT`` listens on
127.0.0.1:LISTEN_PORT (0: a free port), prints the port it listens on, and
forwards every connection to the target. Frozen, the kernel still accepts
connections and buffers bytes, but nothing answers: a server that "stops
answering". Killed, every connection ends: a server that is down.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (sink, source):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _serve(client: socket.socket, target: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(target, timeout=5)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
    _pump(upstream, client)


def main() -> None:
    listen_port, target_host, target_port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    listener = socket.create_server(("127.0.0.1", listen_port), backlog=256)
    print(listener.getsockname()[1], flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(
            target=_serve, args=(client, (target_host, target_port)), daemon=True
        ).start()


if __name__ == "__main__":
    main()
