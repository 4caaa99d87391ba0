"""Case store: cases with immutable versions, a search index, bearer tokens and an audit trail."""

from reporter.store.repository import CaseStore, Criteria, DateClause, Page, StoredResource, StoredVersion

__all__ = ["CaseStore", "Criteria", "DateClause", "Page", "StoredResource", "StoredVersion"]
