"""`python -m bench.peers`: the load through Node-RED + node-red-contrib-influxdb (NOT YET DONE).

Plan (for whoever picks this up): `npm install --prefix bench/build/peers node-red
node-red-contrib-influxdb`, write a flow (mqtt in, QoS 1, `$share` off -> json ->
function mapping a reading to fields/tags -> influxdb batch out, v1.x) into a
settings folder under the run's temp dir, start `node-red -u <dir> -p <free port>`
against the Stack's Mosquitto and InfluxDB, then reuse `bench.collector_bench`'s
publish-and-count loop. Node-RED acknowledges QoS 1 on receipt, not after the
write, so it is a throughput peer, not a delivery-guarantee peer: say so next to
its figure.
"""

from __future__ import annotations

import sys


def main() -> int:
    print(
        "bench.peers: the Node-RED comparison is not implemented yet; "
        "see the plan in bench/peers.py",
        file=sys.stderr,
    )
    return 3


if __name__ == "__main__":
    sys.exit(main())
