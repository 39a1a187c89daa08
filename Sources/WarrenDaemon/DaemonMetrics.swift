import CoreMetrics
import Metrics
import Prometheus

/// The daemon's own metrics, rendered by `GET /metrics` in Prometheus text format.
///
/// Each daemon instance owns its registry, so tests can run several side by side;
/// the executable additionally bootstraps the global `MetricsSystem` with a factory
/// over the same registry so library metrics land there too.
public struct DaemonMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    /// Sandboxes created (accepted by `POST /v1/sandboxes`).
    let sandboxesCreated: CoreMetrics.Counter
    /// Sandboxes that failed to start or ended in `failed`.
    let sandboxesFailed: CoreMetrics.Counter
    /// Sandboxes currently in the `running` state.
    let sandboxesRunning: CoreMetrics.Gauge

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.factory = PrometheusMetricsFactory(registry: registry)
        sandboxesCreated = CoreMetrics.Counter(label: "warren_sandboxes_created_total", factory: factory)
        sandboxesFailed = CoreMetrics.Counter(label: "warren_sandboxes_failed_total", factory: factory)
        sandboxesRunning = CoreMetrics.Gauge(label: "warren_sandboxes_running", factory: factory)
        sandboxesRunning.record(0)
    }

    /// Counts one API request by method and status class.
    func countRequest(method: String, status: Int) {
        CoreMetrics.Counter(label: "warren_api_requests_total",
                dimensions: [("method", method), ("status", String(status))], factory: factory).increment()
    }

    /// The current metrics in Prometheus' text exposition format.
    public func render() -> String { registry.emitToString() }
}
