"""The base map under every page, from the settings: none, Tianditu (CGCS2000, no offset) or any
XYZ template. Never OpenStreetMap or another foreign service by default: command halls run on
intranets, and a map page must not reach any host but wangge and the one configured here."""

from __future__ import annotations

from urllib.parse import urlsplit

import folium

from gis.settings import Settings

TIANDITU = {"tianditu": ("vec_w", "cva_w"), "tianditu-img": ("img_w", "cia_w")}
ATTRIBUTION = "© 天地图 Tianditu"


def add_basemap(m: folium.Map, settings: Settings) -> None:
    """Add the configured base layers to ``m`` (nothing for ``none``)."""
    if settings.basemap in TIANDITU:
        if not settings.tianditu_key and "{key}" in settings.tianditu_url:
            raise ValueError(
                "the Tianditu base map needs WANGGE_TIANDITU_KEY (or an intranet node's WANGGE_TIANDITU_URL)"
            )
        for layer in TIANDITU[settings.basemap]:
            url = settings.tianditu_url.replace("{layer}", layer).replace("{key}", settings.tianditu_key or "")
            folium.TileLayer(url, attr=ATTRIBUTION, name=layer, subdomains="01234567", max_zoom=18, overlay=False,
                             control=False).add_to(m)  # fmt: skip
    elif settings.basemap == "xyz":
        if not settings.basemap_url:
            raise ValueError("the xyz base map needs WANGGE_BASEMAP_URL")
        folium.TileLayer(settings.basemap_url, attr=settings.basemap_attribution or "base map", control=False).add_to(m)


def hosts(settings: Settings) -> list[str]:
    """The origins a page may load base-map tiles from (for the Content-Security-Policy, where a
    wildcard inside a host name is not allowed: each subdomain is named)."""
    if settings.basemap in TIANDITU:
        url, subdomains = settings.tianditu_url, "01234567"
    elif settings.basemap == "xyz" and settings.basemap_url:
        url, subdomains = settings.basemap_url, "abc"
    else:
        return []
    found = []
    for s in subdomains if "{s}" in url else "-":
        parts = urlsplit(url.replace("{s}", s))
        if parts.netloc and f"{parts.scheme}://{parts.netloc}" not in found:
            found.append(f"{parts.scheme}://{parts.netloc}")
    return found
