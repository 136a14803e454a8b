"""Every script and style sheet a map page loads, served by wangge itself: command halls run on
intranets, so no page may reach a CDN.

folium's classes name their assets on CDNs (an empty ``folium.Map`` references 10 URLs on 4
hosts, some unpinned ``@latest``/``@main``). :func:`install` rewrites those class-level lists once
per process: the assets wangge uses point at the npm packages ``make`` installed from
``package-lock.json`` (served under ``/static/vendor``), and every other external one is dropped,
so a page can never fetch from elsewhere. URLs are relative to the pages (``/maps/...``), so they
also work under a root path.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import folium
import folium.plugins

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "node_modules"
STATIC = Path(__file__).resolve().parent / "static"
#: where pages find the vendor assets and wangge's own scripts (relative to /maps/<page>)
VENDOR_URL = "../static/vendor"
OWN_URL = "../static/maps"

#: the npm packages served under /static/vendor/<name>: their directory of built files
PACKAGES = {
    "leaflet": "leaflet/dist",
    "leaflet.vectorgrid": "leaflet.vectorgrid/dist",
    "leaflet.markercluster": "leaflet.markercluster/dist",
    "leaflet-geoman-free": "@geoman-io/leaflet-geoman-free/dist",
    "echarts": "echarts/dist",
}

#: folium's asset names -> the local file that replaces the CDN one
LOCAL = {
    "leaflet": "leaflet/leaflet.js",
    "leaflet_css": "leaflet/leaflet.css",
    "vectorGrid": "leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js",
    "markerclusterjs": "leaflet.markercluster/leaflet.markercluster.js",
    "markerclustercss": "leaflet.markercluster/MarkerCluster.css",
    "markerclusterdefaultcss": "leaflet.markercluster/MarkerCluster.Default.css",
    "leaflet_geoman_js": "leaflet-geoman-free/leaflet-geoman.js",
    "leaflet_geoman_css": "leaflet-geoman-free/leaflet-geoman.css",
    "echarts": "echarts/echarts.min.js",
}


def missing() -> list[str]:
    """The vendor files that are not installed (``make`` installs them)."""
    return [f for f in LOCAL.values() if not (NODE_MODULES / PACKAGES[f.split("/")[0]] / f.split("/", 1)[1]).exists()]


def _local(assets: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for name, url in assets:
        if name in LOCAL:
            out.append((name, f"{VENDOR_URL}/{LOCAL[name]}"))
        elif not url.startswith(("http:", "https:", "//")):
            out.append((name, url))
    return out


def install() -> None:
    """Point every folium class's assets at wangge's own files (idempotent)."""
    for module in (folium, folium.plugins, folium.features, folium.map, folium.raster_layers, folium.vector_layers):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            for attr in ("default_js", "default_css"):
                if isinstance(cls.__dict__.get(attr), list):
                    setattr(cls, attr, _local(cls.__dict__[attr]))
