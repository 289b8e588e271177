"""The asyncio-native MQTT 5 client (codec and source) and the registry of broker sources."""
