"""The broker side: the asyncio-native MQTT 5 client, its codec, subscription and hand-off."""
