import Foundation
import RuntimeDriver
import Testing
import WarrenCore
@testable import WarrenDaemon

@Suite("Daemon configuration")
struct DaemonConfigurationTests {
    @Test func defaultPathsForRootAndRootless() {
        #expect(DaemonConfiguration.defaultSocketPath(environment: [:], root: true) == "/run/warren/warren.sock")
        #expect(DaemonConfiguration.defaultSocketPath(environment: ["XDG_RUNTIME_DIR": "/run/user/1000"], root: false)
                == "/run/user/1000/warren.sock")
        #expect(DaemonConfiguration.defaultDataRoot(environment: [:], root: true) == "/var/lib/warren")
        #expect(DaemonConfiguration.defaultDataRoot(environment: ["XDG_DATA_HOME": "/x/data"], root: false) == "/x/data/warren")
        #expect(DaemonConfiguration.defaultDataRoot(environment: ["HOME": "/home/a"], root: false) == "/home/a/.local/share/warren")
        #expect(DaemonConfiguration.defaultHelperPath().hasSuffix("/warren-sandbox"))
    }

    @Test("daemon.json: registry settings read, a missing default file is empty, a named one must exist, bad registries refused")
    func configFile() throws {
        let path = NSTemporaryDirectory() + "/warren-daemon-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try #"{"insecure-registries": ["127.0.0.1:5000"], "registry-config": "/etc/warren/logins.json"}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let file = try DaemonConfigFile.load(path, required: true)
        #expect(file.insecureRegistries == ["127.0.0.1:5000"] && file.registryConfig == "/etc/warren/logins.json")
        #expect(try DaemonConfigFile.load(path + ".none", required: false) == DaemonConfigFile())
        #expect(throws: WarrenError.self) { try DaemonConfigFile.load(path + ".none", required: true) }
        try #"{"insecure-registries": "127.0.0.1:5000"}"#.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: WarrenError.self) { try DaemonConfigFile.load(path, required: true) }
        #expect(throws: WarrenError.self) { try DaemonConfigFile.validateRegistries(["http://127.0.0.1:5000"]) }
        try DaemonConfigFile.validateRegistries(["127.0.0.1:5000", "registry.local"])
        #expect(DaemonConfiguration.defaultConfigFilePath(environment: [:], root: true) == "/etc/warren/daemon.json")
        #expect(DaemonConfiguration.defaultConfigFilePath(environment: ["XDG_CONFIG_HOME": "/c"], root: false) == "/c/warren/daemon.json")
    }

    @Test func hostPortParsing() throws {
        #expect(try DaemonConfiguration.HostPort(parsing: "127.0.0.1:2375") == .init(host: "127.0.0.1", port: 2375))
        #expect(try DaemonConfiguration.HostPort(parsing: "[::1]:80") == .init(host: "::1", port: 80))
        #expect(try DaemonConfiguration.HostPort(parsing: ":9000").isLoopback)
        #expect(try !DaemonConfiguration.HostPort(parsing: "0.0.0.0:9000").isLoopback)
        #expect(throws: WarrenError.self) { try DaemonConfiguration.HostPort(parsing: "localhost") }
        #expect(throws: WarrenError.self) { try DaemonConfiguration.HostPort(parsing: "h:99999") }
    }

    func daemon(listen: String, tokenFile: String? = nil) throws -> WarrenDaemon {
        WarrenDaemon(
            configuration: DaemonConfiguration(socketPath: "/tmp/unused.sock", dataRoot: "/tmp/unused",
                                               listen: try .init(parsing: listen), tokenFile: tokenFile, helperPath: "/x"),
            drivers: DriverRegistry([FakeDriver()], defaultName: "fake"), logger: quietLogger)
    }

    @Test func publicListenerNeedsAToken() throws {
        let error = #expect(throws: WarrenError.self) { try daemon(listen: "0.0.0.0:2375").checkListenerSecurity() }
        #expect(error?.message.contains("without --token-file") == true)
        #expect(try daemon(listen: "127.0.0.1:2375").checkListenerSecurity() == nil)

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)").path
        try "short\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: WarrenError.self) { try daemon(listen: "0.0.0.0:2375", tokenFile: file).checkListenerSecurity() }
        try "0123456789abcdef-token\nignored\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try daemon(listen: "0.0.0.0:2375", tokenFile: file).checkListenerSecurity() == "0123456789abcdef-token")
        try? FileManager.default.removeItem(atPath: file)
    }
}
