"""The tenant catalogue (tenants.yaml): loading with every problem reported, defaults merged,
and every name derived from a tenant (`tenants.names`)."""

from tenants.errors import CatalogueError, Problem
from tenants.loader import load_catalogue
from tenants.model import (
    Alarms,
    Api,
    Bucket,
    Catalogue,
    Database,
    Limits,
    Platform,
    Taxonomy,
    Tenant,
)

__all__ = [
    "Alarms",
    "Api",
    "Bucket",
    "Catalogue",
    "CatalogueError",
    "Database",
    "Limits",
    "Platform",
    "Problem",
    "Taxonomy",
    "Tenant",
    "load_catalogue",
]
