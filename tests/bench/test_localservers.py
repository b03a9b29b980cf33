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
