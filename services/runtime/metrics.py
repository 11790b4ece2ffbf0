"""Prometheus metrics of a service, read from its worker's counters at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.runtime.worker import ServiceWorker


class WorkerCollector(Collector):
    """Turns the worker's consumer stats into metric families on every scrape."""

    def __init__(self, worker: ServiceWorker) -> None:
        self._worker = worker

    def collect(self) -> Iterator[Metric]:
        worker = self._worker
        service = worker.service
        up = GaugeMetricFamily("logos_service_up", "1 while every worker loop runs.", labels=["service"])
        up.add_metric([service], 1.0 if worker.running() else 0.0)
        yield up
        uptime = GaugeMetricFamily(
            "logos_service_uptime_seconds", "Seconds since the worker started.", labels=["service"]
        )
        uptime.add_metric([service], worker.uptime_seconds())
        yield uptime
        connected = GaugeMetricFamily(
            "logos_bus_connected", "1 while the consumer group reads.", labels=["service", "group"]
        )
        handled = CounterMetricFamily(
            "logos_messages_handled", "Messages handled and acknowledged.", labels=["service", "group", "type"]
        )
        dead = CounterMetricFamily(
            "logos_messages_dead_lettered", "Entries moved to the dead-letter stream.", labels=["service", "group"]
        )
        failures = CounterMetricFamily(
            "logos_handler_failures", "Handler exceptions (retried or dead-lettered).", labels=["service", "group"]
        )
        reclaimed = CounterMetricFamily(
            "logos_entries_reclaimed", "Stuck entries reclaimed with XAUTOCLAIM.", labels=["service", "group"]
        )
        reconnects = CounterMetricFamily(
            "logos_bus_reconnects", "Times the bus connection was lost.", labels=["service", "group"]
        )
        pending = GaugeMetricFamily(
            "logos_consumer_pending", "Entries delivered but not acknowledged.", labels=["service", "group", "stream"]
        )
        lag = GaugeMetricFamily(
            "logos_consumer_lag", "Entries still there for the group to read.", labels=["service", "group", "stream"]
        )
        lost = GaugeMetricFamily(
            "logos_stream_entries_lost",
            "Entries trimmed before the group read them (stream_gap; the service is not ready).",
            labels=["service", "group", "stream"],
        )
        for group, stats in worker.stats.items():
            connected.add_metric([service, group], 1.0 if stats.connected else 0.0)
            for message_type, count in stats.handled.items():
                handled.add_metric([service, group, message_type], count)
            dead.add_metric([service, group], stats.dead_lettered)
            failures.add_metric([service, group], stats.handler_failures)
            reclaimed.add_metric([service, group], stats.reclaimed)
            reconnects.add_metric([service, group], stats.reconnects)
            load = worker.loads.get(group)
            for info in load.infos if load else []:
                pending.add_metric([service, group, info.stream], info.pending)
                behind = info.behind()
                if behind is not None:
                    lag.add_metric([service, group, info.stream], behind)
        for (stream, group), count in sorted(worker.stream_gaps.items()):
            lost.add_metric([service, group, stream], count)
        guard = worker.bar_guard
        repeated = CounterMetricFamily(
            "logos_bars_non_monotonic",
            "Bars not after their symbol's last one (duplicate: the same time again, older: before it).",
            labels=["service", "symbol", "kind"],
        )
        for symbol, kinds in sorted(guard.non_monotonic.items()):
            for kind, count in sorted(kinds.items()):
                repeated.add_metric([service, symbol, kind], count)
        refused = CounterMetricFamily(
            "logos_bars_refused",
            "Bars dead-lettered by the clock checks (future: beyond the wall clock, gap: an unconfirmed jump).",
            labels=["service", "symbol", "kind"],
        )
        for symbol, kinds in sorted(guard.refused.items()):
            for kind, count in sorted(kinds.items()):
                refused.add_metric([service, symbol, kind], count)
        yield from (lost, repeated, refused)
        published = CounterMetricFamily("logos_messages_published", "Messages published.", labels=["service", "stream"])
        for stream, count in worker.published.items():
            published.add_metric([service, stream], count)
        yield from (connected, handled, dead, failures, reclaimed, reconnects, pending, lag, published)


def render_metrics(worker: ServiceWorker) -> tuple[bytes, str]:
    """Return the exposition text for ``worker`` and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(worker))
    return generate_latest(registry), CONTENT_TYPE_LATEST
