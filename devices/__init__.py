"""Device catalogue: reading models per device kind, topics, stations and line protocol."""
