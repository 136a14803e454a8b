"""Planners' analytics: case counts by season and region (hot spots to come)."""
