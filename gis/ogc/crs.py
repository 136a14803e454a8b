"""CRS by reference (OGC API – Features Part 2): the CRS URIs the service offers, their axis order.

CRS84 (longitude, latitude) is the default; the storage CRS is CGCS2000 (EPSG:4490). EPSG:4490 and
EPSG:4326 are latitude first and the CGCS2000 Gauss-Krüger zones (EPSG:4513–4554) northing first,
as the EPSG registry defines them: answers in those CRSs put that axis first, and a ``bbox`` in
them is read in that order (GDAL's ``AUTHORITY_COMPLIANT``, the default of its OAPIF driver).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pyproj import CRS

from gis.errors import InvalidInput
from gis.settings import STORAGE_SRID

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
#: the EPSG codes offered besides CRS84: CGCS2000, WGS 84, Web Mercator, the 42 CGCS2000 3° GK zones
OFFERED = (STORAGE_SRID, 4326, 3857, *range(4513, 4555))
STORAGE_URI = EPSG_URI.format(STORAGE_SRID)
_FORMS = (
    re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/0/(\d+)$"),
    re.compile(r"^urn:ogc:def:crs:EPSG:[0-9.]*:(\d+)$", re.I),
    re.compile(r"^\[?EPSG:(\d+)\]?$", re.I),
)
_CRS84 = {
    CRS84,
    "https://www.opengis.net/def/crs/OGC/1.3/CRS84",
    "urn:ogc:def:crs:OGC:1.3:CRS84",
    "[OGC:CRS84]",
    "OGC:CRS84",
}


@dataclass(frozen=True)
class OutputCrs:
    """A CRS of the service: its URI, the SRID PostGIS transforms to, and whether the first axis
    of the EPSG definition is the second of PostGIS's (x, y), so coordinates are swapped."""

    uri: str
    srid: int
    swap: bool

    @property
    def header(self) -> str:
        return f"<{self.uri}>"


def uris() -> list[str]:
    return [CRS84, *(EPSG_URI.format(c) for c in OFFERED)]


@lru_cache(maxsize=64)
def _north_first(epsg: int) -> bool:
    return CRS.from_epsg(epsg).axis_info[0].direction.lower() == "north"


def parse(value: str | None, field: str = "crs") -> OutputCrs:
    """The offered CRS a ``crs``, ``bbox-crs`` or ``filter-crs`` value names (CRS84 when None)."""
    if value is None or value.strip() in _CRS84:
        return OutputCrs(CRS84, 4326, False)
    text = value.strip()
    for form in _FORMS:
        m = form.match(text)
        if m and int(m.group(1)) in OFFERED:
            code = int(m.group(1))
            return OutputCrs(EPSG_URI.format(code), code, _north_first(code))
    raise InvalidInput(f"{field} {value!r} is not offered", field=field, allowed=uris())
