import Logging
import Metrics
import NativeDriver
import Prometheus
import RuntimeDriver

// MARK: - Process-wide setup for the executable

extension WarrenDaemon {
    /// The drivers of a real daemon: the native Linux driver.
    public static func defaultDrivers(configuration: DaemonConfiguration, logger: Logger) -> DriverRegistry {
        let native = NativeDriver(dataRoot: configuration.dataRoot, helperPath: configuration.helperPath,
                                  rootfsMode: configuration.rootfsMode, logger: logger)
        return DriverRegistry([native], defaultName: configuration.defaultDriver)
    }

    /// Bootstraps the global `MetricsSystem` with a Prometheus factory and returns the
    /// daemon metrics over the same registry. Call once, from the executable only.
    public static func bootstrapMetrics() -> DaemonMetrics {
        let metrics = DaemonMetrics()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics.registry))
        return metrics
    }
}
