"""OGC API – Features (Parts 1–3) over wangge's tables: collections, CRS by reference, CQL2."""
