"""The overview: totals, the queue, normalization lag and the ingest chart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headwater.api import inputs
from headwater.console import chart, render
from headwater.console.app import view
from headwater.console.session import Viewer
from headwater.ids import now_micros
from headwater.store.base import Store

MINUTE = 60 * 1_000_000
#: events and actors are counted up to this many; beyond it the page shows the event
#: feed's highest position (an exact count of 2M events took seconds: docs/PERFORMANCE.md)
COUNT_CAP = 10_000


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    buckets: int
    bucket_micros: int
    unit: str


WINDOWS = (
    Window("Last hour", 60, MINUTE, "records per minute"),
    Window("Last day", 96, 15 * MINUTE, "records per 15 minutes"),
)


def series(store: Store, org_id: str, now: int, window: Window) -> chart.Chart:
    # buckets end at the next whole bucket, so the newest bar is the current minute
    end = (now // window.bucket_micros + 1) * window.bucket_micros
    since = end - window.buckets * window.bucket_micros
    points = store.ingest_series(org_id, since, window.bucket_micros)
    return chart.stacked_bars(((p.bucket, p.counts) for p in points), window.buckets)


@view()
async def overview(request: Request, viewer: Viewer) -> Response:
    store = inputs.store_of(request)

    def load() -> dict[str, Any]:
        now = now_micros()
        totals = store.org_totals(viewer.org_id, COUNT_CAP)
        pending, oldest = store.pending_batches(viewer.org_id)
        charts = [(w, series(store, viewer.org_id, now, w)) for w in WINDOWS]
        return {
            "totals": totals,
            "pending": {s.value: n for s, n in pending.items()},
            "lag": now - oldest if oldest is not None else None,
            "charts": charts,
            "cap": COUNT_CAP,
            "outcomes": chart.OUTCOMES,
        }

    return render.page(request, "overview.html", refresh=10, **await run_in_threadpool(load))


routes = [Route("/", overview, methods=["GET"])]


@view()
async def processes(request: Request, viewer: Viewer) -> Response:
    """The process pages' place in the layout; the process map and rules come with
    process discovery (API.md §9-10)."""
    return render.page(request, "processes.html")


routes.append(Route("/processes", processes, methods=["GET"]))
