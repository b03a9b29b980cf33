"""The test servers themselves start, answer, and come back after an outage."""

import paho.mqtt.client as mqtt
import pytest

from edgewatch.bench.localservers import Influxd, Mosquitto


def test_influxd_starts_on_loopback_and_keeps_data_across_a_restart(tmp_path):
    with Influxd(tmp_path) as influx:
        influx.query("CREATE DATABASE t", post=True)
        import urllib.request

        urllib.request.urlopen(
            urllib.request.Request(f"{influx.url}/write?db=t", data=b"m,obj=OBJ1 v=1 1000000000"),
            timeout=5,
        )
        influx.stop()
        influx.start()
        assert influx.rows("SELECT * FROM m", "t")[0]["v"] == 1


@pytest.mark.parametrize("tls", [False, True])
def test_mosquitto_accepts_a_client(tmp_path, tls):
    with Mosquitto(tmp_path, tls=tls) as broker:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        if tls:
            client.tls_set(ca_certs=str(broker.ca_file))
            client.username_pw_set(broker.USER, broker.PASSWORD)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        info = client.publish("t", b"x", qos=1)
        info.wait_for_publish(5)
        assert info.is_published()
        client.loop_stop()
        client.disconnect()


def test_mosquitto_keeps_more_than_its_default_1000_messages_for_an_absent_session(tmp_path):
    """Regression: with mosquitto's default max_queued_messages (1000), a slow ingest lost
    148 of 5,023 messages; the shipped configs raise it, the test launcher did not."""
    import threading

    with Mosquitto(tmp_path) as broker:
        got, done = [], threading.Event()

        def subscriber() -> mqtt.Client:
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="slow-reader",
                                 clean_session=False)  # fmt: skip
            client.on_message = lambda c, u, m: (got.append(m.payload), len(got) >= 3000
                                                 and done.set())  # fmt: skip
            client.connect("127.0.0.1", broker.port)
            client.subscribe("q", qos=1)
            client.loop_start()
            return client

        reader = subscriber()
        reader.loop_stop()
        reader.disconnect()  # away: the broker queues for the session
        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        publisher.connect("127.0.0.1", broker.port)
        publisher.loop_start()
        infos = [publisher.publish("q", str(i).encode(), qos=1) for i in range(3000)]
        for info in infos:
            info.wait_for_publish(10)
        publisher.loop_stop()
        got.clear()
        reader = subscriber()
        assert done.wait(20), len(got)
        reader.loop_stop()
        reader.disconnect()
        assert sorted(int(p) for p in got) == list(range(3000))
