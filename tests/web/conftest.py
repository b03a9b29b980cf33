"""The dashboard served for real: uvicorn on a free loopback port over stores in the
test's folder."""

from __future__ import annotations

import pytest

from edgewatch.events.store import EventStore
from edgewatch.web.server import WebServer

from .tools import Client, make_config


@pytest.fixture
def config(tmp_path, port):
    return make_config(tmp_path, port)


@pytest.fixture
def store(config):
    s = EventStore(config.events.store_path)
    yield s
    s.close()


@pytest.fixture
def server(config, store):
    with WebServer(config) as running:
        yield running


@pytest.fixture
def client(server):
    c = Client(server.url)
    yield c
    c.close()


@pytest.fixture
def logged_in(client):
    assert client.login().status == 200
    return client
