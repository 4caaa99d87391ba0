"""Resources the server keeps beside the cases (Group, Subscription): create, read, versioned update with
If-Match, delete. They live in their own table (migration 0006_integration): they are not case data and never
appear in a case's Bundle, its history or the resource index."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from reporter.errors import NotFound, VersionConflict
from reporter.store.fhirdates import format_instant
from reporter.store.repository import CaseStore, _now
from reporter.store.schema import ServerResource, SubscriptionOutbox


@dataclass(frozen=True)
class ServerItem:
    resource_type: str
    resource_id: str
    version: int
    last_updated: datetime
    resource: dict

    def with_meta(self) -> dict:
        body = copy.deepcopy(self.resource)
        body["id"] = self.resource_id
        body["meta"] = {**(body.get("meta") or {}), "versionId": str(self.version),
                        "lastUpdated": format_instant(self.last_updated)}
        return body


def _item(row: ServerResource) -> ServerItem:
    return ServerItem(row.resource_type, row.resource_id, row.version, row.last_updated, row.resource)


def _clean(resource: dict) -> dict:
    body = copy.deepcopy(resource)
    body.pop("meta", None)
    body.pop("id", None)
    return body


def create(store: CaseStore, resource: dict, *, checked_until: datetime | None = None) -> ServerItem:
    """Store a new resource under a server-assigned id."""
    with store.write_session() as session:
        row = ServerResource(resource_type=resource["resourceType"], resource_id=str(uuid.uuid4()), version=1,
                             last_updated=_now(), resource=_clean(resource), checked_until=checked_until)
        session.add(row)
        session.flush()
        return _item(row)


def read(store: CaseStore, resource_type: str, resource_id: str) -> ServerItem:
    with store.read_session() as session:
        row = session.get(ServerResource, (resource_type, resource_id))
        if row is None:
            raise NotFound(f"{resource_type}/{resource_id} does not exist", location=f"{resource_type}/{resource_id}")
        return _item(row)


def all_of(store: CaseStore, resource_type: str, limit: int = 1000) -> list[ServerItem]:
    with store.read_session() as session:
        rows = session.scalars(select(ServerResource).where(ServerResource.resource_type == resource_type)
                               .order_by(ServerResource.last_updated, ServerResource.resource_id).limit(limit))
        return [_item(r) for r in rows]


def update(store: CaseStore, resource_type: str, resource_id: str, resource: dict, *, if_match: int | None,
           checked_until: datetime | None = None) -> ServerItem:
    """Replace the resource (a new version). `if_match` must name the current version when given."""
    with store.write_session() as session:
        row = session.get(ServerResource, (resource_type, resource_id))
        where = f"{resource_type}/{resource_id}"
        if row is None:
            raise NotFound(f"{where} does not exist", location=where, hint=f"create it with POST {resource_type}")
        if if_match is not None and if_match != row.version:
            raise VersionConflict(f"{where} is at version {row.version}, not {if_match}", location=where,
                                  hint="read the current version and apply your change to it")
        row.version += 1
        row.last_updated = _now()
        row.resource = _clean(resource)
        if checked_until is not None:
            row.checked_until = checked_until
        session.flush()
        return _item(row)


def remove(store: CaseStore, resource_type: str, resource_id: str) -> None:
    with store.write_session() as session:
        row = session.get(ServerResource, (resource_type, resource_id))
        if row is None:
            raise NotFound(f"{resource_type}/{resource_id} does not exist",
                           location=f"{resource_type}/{resource_id}")
        session.delete(row)
        if resource_type == "Subscription":
            session.execute(delete(SubscriptionOutbox).where(SubscriptionOutbox.subscription_id == resource_id))
