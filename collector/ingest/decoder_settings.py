"""What every `ingest.decoder` and `ingest.gateways` entry has; a plugin's model adds the rest."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DecoderSettings(BaseModel):
    """What every `ingest.decoder` has; a decoder's model adds its own settings."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="Payload decoder by name")
