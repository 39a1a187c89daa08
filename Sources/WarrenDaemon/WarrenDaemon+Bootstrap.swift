import DockerDriver
import ImageStore
import Logging
import Metrics
import NativeDriver
import Prometheus
import RuntimeDriver
import WarrenCore

// MARK: - Process-wide setup for the executable

extension WarrenDaemon {
    /// The daemon `warren daemon` runs: its image store and the real drivers over it.
    public static func standard(configuration: DaemonConfiguration, metrics: DaemonMetrics, logger: Logger) throws -> WarrenDaemon {
        try makeDirectory(configuration.dataRoot)
        let images = try ImageStore(dataRoot: configuration.dataRoot, logger: logger)
        let drivers = try defaultDrivers(configuration: configuration, images: images, logger: logger)
        return WarrenDaemon(configuration: configuration, drivers: drivers, images: images, metrics: metrics, logger: logger)
    }

    /// The drivers of a real daemon: the native Linux driver, and Docker (available
    /// when its engine answers), which takes images Docker lacks from `images`.
    public static func defaultDrivers(configuration: DaemonConfiguration, images: ImageStore, logger: Logger) throws -> DriverRegistry {
        let native = NativeDriver(dataRoot: configuration.dataRoot, helperPath: configuration.helperPath,
                                  rootfsMode: configuration.rootfsMode, logger: logger)
        let endpoint = try configuration.dockerHost.map(DockerEndpoint.init(dockerHost:)) ?? DockerEndpoint.fromEnvironment()
        let docker = DockerDriver(endpoint: endpoint, owner: NativeDriver.cgroupParent(dataRoot: configuration.dataRoot),
                                  localImages: StoreImageArchives(images: images),
                                  pauseProgram: installPauseProgram(dataRoot: configuration.dataRoot, logger: logger),
                                  logger: logger)
        return DriverRegistry([native, docker], defaultName: configuration.defaultDriver)
    }

    /// Writes the program that holds Docker sandboxes' network namespaces into the data
    /// root. Without it (an architecture Warren has no program for, a failed write) the
    /// facade relay joins the workload's namespace once the workload runs.
    static func installPauseProgram(dataRoot: String, logger: Logger) -> String? {
        do {
            guard let path = try PauseProgram.install(at: dataRoot + "/docker/pause") else {
                logger.notice("docker: no network holder program for this architecture")
                return nil
            }
            return path
        } catch {
            logger.warning("docker: cannot install the network holder program: \(WarrenError.wrap(error).message)")
            return nil
        }
    }

    /// Bootstraps the global `MetricsSystem` with a Prometheus factory and returns the
    /// daemon metrics over the same registry. Call once, from the executable only.
    public static func bootstrapMetrics() -> DaemonMetrics {
        let metrics = DaemonMetrics()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics.registry))
        return metrics
    }
}
