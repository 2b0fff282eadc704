"""The notifier: reads the image stream and camera heartbeats, tells MQTT, webhooks and ntfy.

No Flask: it imports the standard library, redis, paho-mqtt (only with MQTT_URL) and the
data contract. Run it with `python -m server.notify`; see the README, "Notifications".
"""
