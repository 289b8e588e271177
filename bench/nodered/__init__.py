"""Node-RED + node-red-contrib-influxdb as the peer the collector is compared with."""
