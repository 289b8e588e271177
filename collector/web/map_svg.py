"""The province map: an approximate outline of Cabo Delgado and the stations, inline SVG."""

from __future__ import annotations

import math
from collections.abc import Iterable
from html import escape
from urllib.parse import quote

from collector.web.fleet_view import StationView

# (longitude, latitude), clockwise from the Rovuma mouth: the Rovuma (border with
# Tanzania), the Lugenda (Niassa), the Lúrio (Nampula), then the coast. Approximate, from
# a handful of real places on each; enough to place the stations, not for navigation.
OUTLINE = (
    (40.43, -10.47), (39.75, -10.95), (39.30, -11.18), (38.90, -11.30), (38.45, -11.42),
    (38.40, -11.85), (38.30, -12.40), (38.25, -13.00), (38.30, -13.50), (38.55, -13.90),
    (39.00, -14.00), (39.60, -13.85), (40.10, -13.75), (40.53, -13.53), (40.62, -13.30),
    (40.60, -12.97), (40.66, -12.35), (40.58, -11.80), (40.42, -11.35), (40.55, -10.80),
    (40.62, -10.60),
)  # fmt: skip
LON0, LON1, LAT0, LAT1 = 38.1, 40.8, -10.35, -14.15
W = 300.0
_K = math.cos(math.radians(12.3))  # equirectangular, true at the province's middle
H = W * (LAT0 - LAT1) / ((LON1 - LON0) * _K)


def _xy(lon: float, lat: float) -> tuple[float, float]:
    return W * (lon - LON0) / (LON1 - LON0), H * (LAT0 - lat) / (LAT0 - LAT1)


def province_map(views: Iterable[StationView], title: str) -> str:
    """The outline and one dot per station (a link to its page), coloured by state."""
    outline = " ".join("{:.1f},{:.1f}".format(*_xy(lon, lat)) for lon, lat in OUTLINE)
    dots = []
    for v in views:
        x, y = _xy(v.station.longitude, v.station.latitude)
        label = f"{v.station.id} {v.station.name}"
        dots.append(
            f'<a href="/s/{quote(v.station.id)}"><circle class="st {v.state}" cx="{x:.1f}" '
            f'cy="{y:.1f}" r="5"><title>{escape(label)}</title></circle></a>'
        )
    return (
        f'<svg class="map" viewBox="0 0 {W:.0f} {H:.0f}" role="img" aria-label="{escape(title)}">'
        f'<polygon class="prov" points="{outline}"/>{"".join(dots)}</svg>'
    )
