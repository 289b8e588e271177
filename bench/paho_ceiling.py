"""The ceiling of any paho-based collector: a bare paho MQTT 5 client, manual acks, no work.

Run as its own process (`python -m bench.paho_ceiling HOST PORT FILTER COUNT`): prints
"ready" once subscribed, then a JSON line with the first and last arrival times.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def main(argv: list[str] | None = None) -> int:
    host, port, topic_filter, count_text = (argv or sys.argv[1:])[:4]
    want = int(count_text)
    got = 0
    first = last = 0.0
    done = threading.Event()
    subscribed = threading.Event()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"paho-ceiling-{time.time_ns()}",
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=True,
    )

    def on_connect(c: mqtt.Client, u: Any, f: Any, rc: Any, p: Any) -> None:
        c.subscribe(topic_filter, qos=1)

    def on_subscribe(c: mqtt.Client, u: Any, mid: int, rc: Any, p: Any) -> None:
        subscribed.set()

    def on_message(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        nonlocal got, first, last
        last = time.time()
        if not got:
            first = last
        got += 1
        c.ack(msg.mid, msg.qos)
        if got >= want:
            done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.ReceiveMaximum = 2000
    client.connect(host, int(port), properties=props, clean_start=True)
    client.loop_start()
    if not subscribed.wait(20):
        print("not subscribed", file=sys.stderr)
        return 1
    print("ready", flush=True)
    done.wait(300)
    client.disconnect()
    client.loop_stop()
    print(json.dumps({"messages": got, "first": first, "last": last}), flush=True)
    return 0 if got >= want else 1


if __name__ == "__main__":
    sys.exit(main())
