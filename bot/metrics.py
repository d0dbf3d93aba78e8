"""Prometheus metrics of one wirewatch process, served at /metrics.

Counters are bumped where things happen (pipeline, outbox); the outbox depth and the count
of deliveries given up on are read from SQLite when scraped, so they are true after a
restart. One registry per process, not the library's global one, so tests and embedders see
only wirewatch's own series.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

FEEDS_POLLED = Counter(
    "wirewatch_feeds_polled",
    "Feed polls by result (ok, not_modified, error)",
    ["result"],
    registry=REGISTRY,
)
FETCH_ERRORS = Counter(
    "wirewatch_fetch_errors", "Failed polls by feed", ["feed"], registry=REGISTRY
)
FEED_FAILURES = Counter(
    "wirewatch_feed_failures",
    "Failed polls by cause: fetch, parse, internal (a bug on the feed's data); see "
    "`wirewatch feeds` for each feed's last error",
    ["cause"],
    registry=REGISTRY,
)
ITEMS = Counter("wirewatch_items", "New items stored", registry=REGISTRY)
MATCHES = Counter("wirewatch_matches", "Items that matched a topic", ["topic"], registry=REGISTRY)
DELIVERED = Counter(
    "wirewatch_alerts_delivered", "Alerts posted, by platform", ["platform"], registry=REGISTRY
)
FAILED = Counter(
    "wirewatch_alerts_failed",
    "Alerts given up on (a permanent platform error, or one that could not be built or sent "
    "after retries), by platform",
    ["platform"],
    registry=REGISTRY,
)
RETRIED = Counter(
    "wirewatch_alerts_retried",
    "Alert sends to retry later, by platform",
    ["platform"],
    registry=REGISTRY,
)
DROPPED = Counter(
    "wirewatch_alerts_dropped",
    "Alerts dropped before sending: their subscription ended or was narrowed, or their topic "
    "changed (from chat or in the config), by reason",
    ["reason"],
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge("wirewatch_outbox_depth", "Deliveries waiting to be sent", registry=REGISTRY)
GAVE_UP = Gauge(
    "wirewatch_deliveries_failed",
    "Deliveries given up on, all time (their reasons are in /wirewatch status)",
    registry=REGISTRY,
)
LATENCY = Histogram(
    "wirewatch_publish_to_alert_seconds",
    "From the item's published time to its alert posted",
    buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
    registry=REGISTRY,
)
POLL_DURATION = Histogram(
    "wirewatch_poll_duration_seconds",
    "One feed's poll, fetch to stored",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)


def render(outbox_depth: Callable[[], int], gave_up: Callable[[], int] = lambda: 0) -> bytes:
    """The exposition text, with the outbox depth and failed deliveries read now."""
    OUTBOX_DEPTH.set(outbox_depth())
    GAVE_UP.set(gave_up())
    return generate_latest(REGISTRY)
