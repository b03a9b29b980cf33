"""Events: objects entering and leaving the scene and named zones, crossing named lines,
loitering; with a snapshot each, kept in SQLite and sent over MQTT and to InfluxDB."""
