"""Prometheus metrics of one application (its own CollectorRegistry: tests build many apps).

Hot paths keep plain integers where they already are (the hub counts events by name and the
closes it made; the database its batches): those are read when `/metrics` is scraped, by
`LiveCollector`, so a delivery costs one dict update and nothing else. Rarer things (a webhook,
a failed send, a bulk recipient, a write batch) go straight into prometheus_client objects.

Other modules reach the metrics through `app[keys.METRICS]`, e.g. the bulk runner:

    request.app[keys.METRICS].bulk_recipient("sent")      # or ("failed"), ("skipped")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


# What the collector reads of the hub and the database (a leaf module names no layer above it).
class Hub(Protocol):
    """app.realtime.hub.Hub, as far as /metrics reads it."""

    published_by_name: dict[str, int]
    closes_by_reason: dict[str, int]

    def all_connections(self) -> Sequence[Any]: ...
    def poll_count(self) -> int: ...


class Database(Protocol):
    """app.db.Database, as far as /metrics reads it."""

    batches: int
    jobs: int

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: a webhook is acknowledged after its commit (~1-10 ms here); a write batch holds the
# lock from BEGIN to COMMIT, fsync included.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True, slots=True)
class Gauges:
    """Figures read from the database when scraped (counts over every tenant, never names)."""

    outbox_depth: int
    whatsapp_links: dict[tuple[str, str], int]  # (provider, state) -> tenants


class LiveCollector(Collector):
    """Reads the hub's and the database's own counters at scrape time."""

    def __init__(self, hub: Callable[[], Hub | None], db: Callable[[], Database | None]) -> None:
        self._hub = hub
        self._db = db
        self.gauges: Gauges | None = None  # set by the scrape handler just before collecting

    def collect(self) -> Iterator[Metric]:
        """One family per figure; absent while the app has not started."""
        hub = self._hub()
        if hub is not None:
            conns = hub.all_connections()
            yield GaugeMetricFamily("condorito_ws_connections", "Open, authenticated WebSockets",
                                    value=len(conns))
            yield GaugeMetricFamily("condorito_longpolls", "Long-poll requests parked now",
                                    value=hub.poll_count())
            yield GaugeMetricFamily(
                "condorito_ws_queue_depth_max", "Frames queued on the most backed-up socket",
                value=max((len(c.pending) + len(c.held) for c in conns), default=0))
            events = CounterMetricFamily("condorito_events_published",
                                         "Events fanned out by the hub, by name", labels=["name"])
            for name, n in sorted(hub.published_by_name.items()):
                events.add_metric([name], n)
            yield events
            closes = CounterMetricFamily("condorito_ws_server_closes",
                                         "Sockets the server closed, by reason (slow_consumer...)",
                                         labels=["reason"])
            for reason, n in sorted(hub.closes_by_reason.items()):
                closes.add_metric([reason], n)
            yield closes
        db = self._db()
        if db is not None:
            yield CounterMetricFamily("condorito_sqlite_write_batches",
                                      "Write transactions committed", value=db.batches)
            yield CounterMetricFamily("condorito_sqlite_write_jobs",
                                      "Writes committed (several share one transaction)",
                                      value=db.jobs)
        if self.gauges is not None:
            yield GaugeMetricFamily("condorito_outbox_depth", "Sends queued or in flight",
                                    value=self.gauges.outbox_depth)
            links = GaugeMetricFamily("condorito_whatsapp_links", "Tenants by provider and link state",
                                      labels=["provider", "state"])
            for (provider, state), n in sorted(self.gauges.whatsapp_links.items()):
                links.add_metric([provider, state], n)
            yield links


class Metrics:
    """The registry of one app and the instruments other modules update."""

    def __init__(self, hub: Callable[[], Hub | None] = lambda: None,
                 db: Callable[[], Database | None] = lambda: None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.webhook_requests = Counter("condorito_webhook_requests",
                                        "Provider webhook requests answered, by HTTP status",
                                        ["status"], registry=r)
        self.webhook_seconds = Histogram("condorito_webhook_seconds",
                                         "Time to answer a provider webhook (commit included)",
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.send_errors = Counter("condorito_send_errors",
                                   "Outbound sends that failed, by error code", ["code"], registry=r)
        self.bulk_recipients = Counter("condorito_bulk_recipients",
                                       "Bulk campaign recipients processed, by outcome", ["outcome"],
                                       registry=r)
        self.write_seconds = Histogram("condorito_sqlite_write_seconds",
                                       "One write transaction, BEGIN to COMMIT (fsync included)",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.write_batch = Histogram("condorito_sqlite_write_batch_size",
                                     "Writes committed together in one transaction",
                                     buckets=BATCH_BUCKETS, registry=r)
        self.live = LiveCollector(hub, db)
        r.register(self.live)

    def send_error(self, code: str) -> None:
        """A send failed with `code` (an error code, never message text)."""
        self.send_errors.labels(code).inc()

    def bulk_recipient(self, outcome: str, n: int = 1) -> None:
        """The bulk runner processed `n` recipients with `outcome` (sent, failed, skipped...)."""
        self.bulk_recipients.labels(outcome).inc(n)

    def write_batch_done(self, seconds: float, jobs: int) -> None:
        """The database committed a batch of `jobs` writes holding the lock `seconds`."""
        self.write_seconds.observe(seconds)
        self.write_batch.observe(jobs)

    def webhook_done(self, status: int, started: float) -> None:
        """A webhook request was answered with `status`; `started` is its perf_counter()."""
        self.webhook_requests.labels(str(status)).inc()
        self.webhook_seconds.observe(time.perf_counter() - started)

    def render(self, gauges: Gauges | None) -> bytes:
        """The Prometheus text exposition."""
        self.live.gauges = gauges
        try:
            return generate_latest(self.registry)
        finally:
            self.live.gauges = None

