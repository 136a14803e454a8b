"""Open311 GeoReport v2 answers, as the specification names them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Service(BaseModel):
    service_code: str
    service_name: str
    group: str
    description: str
    metadata: bool
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str


class ServiceRequest(BaseModel):
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str
    service_code: str
    service_name: str | None
    description: str
    agency_responsible: str | None
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str | None
    lat: float
    long: float
    address: str | None
    zipcode: str | None


class ServiceRequestCreated(BaseModel):
    service_request_id: str
    service_notice: str
    account_id: str | None
