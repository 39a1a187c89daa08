import ArgumentParser
import Foundation
import Logging
import WarrenCore
import WarrenDaemon

/// `warren daemon`: runs the daemon in the foreground until SIGTERM or SIGINT.
struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "daemon", abstract: "Run the Warren daemon.")

    @Option(help: "Unix socket to listen on (default: /run/warren/warren.sock as root, else $XDG_RUNTIME_DIR/warren.sock).")
    var socket: String?

    @Option(name: .customLong("data-root"), help: "State directory (default: /var/lib/warren as root, else $XDG_DATA_HOME/warren).")
    var dataRoot: String?

    @Option(help: "Also listen on TCP HOST:PORT; needs --token-file unless the host is loopback.")
    var listen: String?

    @Option(name: .customLong("token-file"), help: "File holding the bearer token TCP clients must send.")
    var tokenFile: String?

    @Option(name: .customLong("default-driver"), help: "Driver for sandboxes that name none.")
    var defaultDriver: String = "native"

    @Option(help: "Path of the warren-sandbox helper (default: next to this executable).")
    var helper: String?

    @Option(name: .customLong("rootfs-mode"), help: "Native root filesystems: auto (overlay, else a copy), overlay or copy.")
    var rootfsMode: String = "auto"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(name: .customLong("config"), help: "Daemon config file (JSON; default: /etc/warren/daemon.json as root, else $XDG_CONFIG_HOME/warren/daemon.json).")
    var configFile: String?

    @Option(name: .customLong("insecure-registry"), help: "Registry HOST:PORT to pull from in plain HTTP (repeatable).")
    var insecureRegistries: [String] = []

    @Option(name: .customLong("registry-config"), help: "Docker config.json with registry logins (default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json).")
    var registryConfig: String?

    @Option(name: .customLong("docker-host"), help: "Docker engine for the docker driver, unix:///path (default: $DOCKER_HOST, else /var/run/docker.sock).")
    var dockerHost: String?

    @Option(name: .customLong("allow-mount-source"), help: "A protected host path (the data root, a socket, /proc, ...) clients may still bind into sandboxes (repeatable).")
    var allowMountSources: [String] = []

    @Option(name: .customLong("min-free-space"), help: "Free space the data root keeps; creates are refused below it (default 512m).")
    var minFreeSpace: String?

    @Option(name: .customLong("header-timeout"), help: "Seconds a connection may take to send a request's head (default 15).")
    var headerTimeout: Double?

    @Option(name: .customLong("idle-timeout"), help: "Seconds a kept-alive connection may sit between requests (default 120).")
    var idleTimeout: Double?

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw CLIFailure("unknown log level '\(logLevel)'", code: 64)
        }
        guard let mode = RootfsMode(rawValue: rootfsMode) else {
            throw CLIFailure("unknown rootfs mode '\(rootfsMode)' (auto, overlay or copy)", code: 64)
        }
        let file = try DaemonConfigFile.load(configFile ?? DaemonConfiguration.defaultConfigFilePath(), required: configFile != nil)
        let insecure = (file.insecureRegistries ?? []) + insecureRegistries
        try DaemonConfigFile.validateRegistries(insecure)
        var configuration = DaemonConfiguration(
            socketPath: socket ?? file.socket, dataRoot: dataRoot ?? file.dataRoot,
            listen: try listen.map(DaemonConfiguration.HostPort.init(parsing:)),
            tokenFile: tokenFile, defaultDriver: defaultDriver, helperPath: helper, rootfsMode: mode,
            insecureRegistries: insecure, registryConfigPath: registryConfig ?? file.registryConfig,
            dockerHost: dockerHost ?? file.dockerHost, llmSettings: file.llm ?? [:],
            allowedMountSources: (file.allowMountSources ?? []) + allowMountSources,
            minimumFreeBytes: try (minFreeSpace ?? file.minFreeSpace).map(ByteSize.parse) ?? StorageFloor.defaultMinimumFreeBytes)

        if let presets = file.egressPresets {
            for (name, patterns) in presets {
                try InputRules.text(name, "egress preset name", maxBytes: 64, allowEmpty: false)
                _ = try EgressPolicy(parsing: patterns)
                configuration.egressPresets[name] = patterns
            }
        }
        for (name, secret) in file.egressSecrets ?? [:] {
            try InputRules.text(name, "egress secret name", maxBytes: 64, allowEmpty: false)
            try secret.validate(name)
            configuration.egressSecrets[name] = secret
        }
        configuration.egressTrustFile = file.egressTrust
        if let headerTimeout {
            try InputRules.number(headerTimeout, "--header-timeout", in: 0.1...3600)
            configuration.connectionLimits.headerTimeout = .milliseconds(Int64(headerTimeout * 1000))
        }
        if let idleTimeout {
            try InputRules.number(idleTimeout, "--idle-timeout", in: 0.1...86_400)
            configuration.connectionLimits.idleTimeout = .milliseconds(Int64(idleTimeout * 1000))
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "warren.daemon")
        logger.logLevel = level
        let metrics = WarrenDaemon.bootstrapMetrics()
        try await WarrenDaemon.standard(configuration: configuration, metrics: metrics, logger: logger).run()
    }
}
