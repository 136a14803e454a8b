"""The two list shapes: a page of JSON items, and a page of GeoJSON features with OGC API counts."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from geojson_pydantic import FeatureCollection
from geojson_pydantic.features import Feat
from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """Every list that is not GeoJSON: ``items`` from ``offset``, at most ``limit`` of them, out of ``total``."""

    total: int = Field(description="how many match, over all pages")
    limit: int
    offset: int
    items: list[T]


class Link(BaseModel):
    rel: Literal["next"]
    type: str = "application/geo+json"
    href: str


class FeaturePage(FeatureCollection[Feat], Generic[Feat]):
    """A page of GeoJSON features with the counts of OGC API - Features, and a ``next`` link while
    more remain."""

    numberMatched: int  # noqa: N815 - OGC API - Features names
    numberReturned: int  # noqa: N815
    links: list[Link] = Field(default_factory=list, description="absent on the last page")
