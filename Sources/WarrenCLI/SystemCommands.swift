import ArgumentParser
import Foundation
import WarrenClient
import WarrenCore

/// `warren info [--json]`, also `warren status`.
struct InfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Show the daemon and its drivers.",
                                                    aliases: ["status"])

    @OptionGroup var client: ClientOptions
    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        let info = try await client.client().info()
        if json { return try Output.json(info) }
        Output.line("Version:        \(info.version)")
        Output.line("Data root:      \(info.dataRoot)")
        Output.line("Default driver: \(info.defaultDriver)")
        let counts = info.sandboxes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        Output.line("Sandboxes:      \(counts.isEmpty ? "none" : counts.joined(separator: ", "))")
        for driver in info.drivers {
            Output.line("Driver \(driver.name): \(driver.available ? "available" : "unavailable")\(driver.detail.map { " (\($0))" } ?? "")")
            for dimension in driver.capabilities.dimensions {
                Output.line("  \(dimension.name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(dimension.status.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) \(dimension.detail)")
            }
        }
    }
}

/// `warren version [--json]`: the client's version and, when reachable, the daemon's.
struct VersionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Show client and daemon versions.")

    @OptionGroup var client: ClientOptions
    @Flag(help: "Print JSON.")
    var json = false

    struct Versions: Encodable {
        var client: VersionInfo
        var server: VersionInfo?
        var serverError: String?
    }

    func run() async throws {
        var versions = Versions(client: VersionInfo.current)
        do {
            versions.server = try await client.client().version()
        } catch let error as WarrenError {
            versions.serverError = error.message
        }
        if json {
            try Output.json(versions)
        } else {
            Output.line("Client: \(versions.client.version) (API \(versions.client.apiVersion), \(versions.client.os)/\(versions.client.arch))")
            if let server = versions.server {
                Output.line("Daemon: \(server.version) (API \(server.apiVersion), \(server.os)/\(server.arch))")
            }
        }
        if let message = versions.serverError { throw CLIFailure(message) }
    }
}

/// `warren events [--since SEQ] [--no-follow] [--json]`.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "events", abstract: "Show sandbox lifecycle events.")

    @OptionGroup var client: ClientOptions
    @Option(help: "Only events after this sequence number.")
    var since: Int64 = 0
    @Flag(name: .customLong("follow"), inversion: .prefixedNo, help: "Keep waiting for new events.")
    var follow = true
    @Flag(help: "Print one JSON object per line.")
    var json = false

    func run() async throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for try await event in try await client.client().events(since: since, follow: follow) {
            if json {
                try Output.jsonLine(event)
            } else {
                let fields = [formatter.string(from: event.time), "#\(event.seq)", String(event.sandboxID.prefix(12)),
                              event.type, event.state?.rawValue ?? "-", event.detail ?? ""]
                Output.line(fields.joined(separator: " "))
            }
        }
    }
}
