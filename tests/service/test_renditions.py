"""PDF and HTML off the request path: each version is rendered once, kept in the store, served from there, and
rendered again for a new version or a new renderer (templates, rendering code)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from reporter.inputs import load_bundle
from reporter.store.schema import Rendition
from reporter.web import downloads

CASE = Path(__file__).parent.parent / "data" / "amoxiclav-cholestatic-hepatitis.yaml"


def _kept(store) -> int:
    with store.read_session() as session:
        return session.scalar(select(func.count()).select_from(Rendition))


def test_a_version_is_rendered_once_then_served_from_the_store(store) -> None:
    first = store.create(load_bundle(str(CASE)), author="tester")
    page = downloads.html(first, store)
    assert page.body.startswith(b"<!DOCTYPE html>") and _kept(store) == 1
    # What the store holds is what is served (it is not rendered again): replace it and see it come back.
    key = downloads.renderer_key()
    store.keep_rendition(first.case_id, 1, "html", "an older renderer", b"stale")
    store.keep_rendition(first.case_id, 1, "html", key, b"kept page")
    assert downloads.html(first, store).body == b"kept page"
    # Without a store (the CLI) it is rendered every time.
    assert downloads.html(first).body == page.body
    pdf = downloads.pdf(first, store)
    assert pdf.body.startswith(b"%PDF") and _kept(store) == 2
    assert downloads.pdf(first, store).body == pdf.body


def test_a_new_version_or_renderer_renders_again(store) -> None:
    bundle = load_bundle(str(CASE))
    first = store.create(bundle, author="tester")
    store.keep_rendition(first.case_id, 1, "html", "an older renderer", b"old layout")
    fresh = downloads.html(first, store).body
    assert fresh.startswith(b"<!DOCTYPE html>")  # the older renderer's page is not served
    assert store.rendition(first.case_id, 1, "html", downloads.renderer_key()) == fresh
    second = store.update(first.case_id, bundle, author="tester", if_match=1, reason="follow-up")
    assert store.rendition(second.case_id, 2, "html", downloads.renderer_key()) is None
    assert downloads.html(second, store).body.startswith(b"<!DOCTYPE html>")
    assert _kept(store) == 2
