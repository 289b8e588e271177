"""Where readings go: the batching writer, the disk spool and the InfluxDB sinks."""
