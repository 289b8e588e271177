"""From a received message to what is written and what is refused: decode, validate, seq, status."""
