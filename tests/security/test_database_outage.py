"""When the database goes away the app says so clearly, and recovers when it comes back."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from compliance import create_app
from tests.conftest import PASSWORD


class Proxy:
    """A TCP forwarder standing between the app and PostgreSQL, so a test can cut the line."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.open = False
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.connections.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_outage_gives_503_then_recovers(app_config: dict[str, Any], make_user: Any) -> None:
    email = make_user("analyst").email  # read now: the test's own session stays off the proxy
    url = make_url(app_config["DATABASE_URL"])
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        app = create_app({**app_config, "DATABASE_URL": proxied})
        client = app.test_client()
        with app.app_context():
            login = client.post("/login", data={"email": email, "password": PASSWORD})
            assert login.status_code == 302
            assert client.get("/cases/").status_code == 200

            proxy.cut()
            page = client.get("/cases/")
            assert page.status_code == 503
            assert b"Temporarily unavailable" in page.data
            api = client.get("/api/v1/health")
            assert api.status_code == 503
            assert api.json["error"]["code"] == "unavailable"

            proxy.restore()
            assert client.get("/cases/").status_code == 200
            assert client.get("/api/v1/health").json["status"] == "ok"
            from compliance.extensions import db

            db.engine.dispose()
    finally:
        proxy.close()
