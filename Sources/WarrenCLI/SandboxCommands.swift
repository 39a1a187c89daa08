import ArgumentParser
import Foundation
import WarrenClient
import WarrenCore

/// `warren logs [-f] SANDBOX`.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a sandbox's output.")

    @OptionGroup var client: ClientOptions
    @Flag(name: .shortAndLong, help: "Keep following the output until the sandbox ends.")
    var follow = false
    @Flag(help: "Print the raw NDJSON chunks.")
    var json = false
    @Argument(help: "Sandbox id, id prefix or name.")
    var sandbox: String

    func run() async throws {
        for try await chunk in try await client.client().logs(sandbox, follow: follow) {
            if json {
                try Output.jsonLine(chunk)
            } else if chunk.stream != "exit" {
                Output.write(chunk.bytes, to: chunk.stream)
            }
        }
    }
}

/// `warren ps [-a] [-q] [--json]`.
struct PsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "List sandboxes.")

    @OptionGroup var client: ClientOptions
    @Flag(name: .shortAndLong, help: "Show every sandbox, not only those still running.")
    var all = false
    @Flag(name: .shortAndLong, help: "Only print ids.")
    var quiet = false
    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        let sandboxes = try await client.client().listSandboxes(all: all)
        if json { return try Output.json(sandboxes) }
        if quiet { return sandboxes.forEach { Output.line($0.shortID) } }
        Output.table(["SANDBOX ID", "NAME", "DRIVER", "CREATED", "STATUS", "COMMAND"], sandboxes.map { info in
            [info.shortID, info.name ?? "-", info.driver, Output.age(info.createdAt), Output.status(info),
             Self.abbreviate(info.spec.command.joined(separator: " "))]
        })
    }

    static func abbreviate(_ text: String, to length: Int = 40) -> String {
        text.count <= length ? text : String(text.prefix(length - 1)) + "…"
    }
}

/// `warren stop [-t SECONDS] SANDBOX...`.
struct StopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop running sandboxes.")

    @OptionGroup var client: ClientOptions
    @Option(name: [.customShort("t"), .customLong("time")], help: "Seconds to wait before killing (default 10).")
    var time: Double?
    @Argument(help: "Sandbox ids, id prefixes or names.")
    var sandboxes: [String]

    func run() async throws {
        _ = try StopRequest(graceSeconds: time).grace()
        let warren = try client.client()
        try await eachReference(sandboxes) { try await warren.stop($0, graceSeconds: time) }
    }
}

/// `warren rm [-f] SANDBOX...`.
struct RmCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove sandboxes.")

    @OptionGroup var client: ClientOptions
    @Flag(name: .shortAndLong, help: "Kill running sandboxes first.")
    var force = false
    @Argument(help: "Sandbox ids, id prefixes or names.")
    var sandboxes: [String]

    func run() async throws {
        let warren = try client.client()
        try await eachReference(sandboxes) { try await warren.remove($0, force: force) }
    }
}

/// `warren inspect SANDBOX...`: JSON, one object (or an array for several).
struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Show sandboxes as JSON.")

    @OptionGroup var client: ClientOptions
    @Flag(help: "Print JSON (the default and only format).")
    var json = false
    @Argument(help: "Sandbox ids, id prefixes or names.")
    var sandboxes: [String]

    func run() async throws {
        let warren = try client.client()
        var found: [SandboxInfo] = []
        var failed = false
        for reference in sandboxes {
            do {
                found.append(try await warren.inspect(reference))
            } catch let error as WarrenError {
                Output.error(error.message)
                failed = true
            }
        }
        if found.count == 1 && sandboxes.count == 1 { try Output.json(found[0]) } else if !found.isEmpty { try Output.json(found) }
        if failed { throw ExitCode(1) }
    }
}

/// Runs `action` for each reference, printing it on success and `warren: <error>` otherwise;
/// exits 1 when any failed, as `docker stop a b` does.
func eachReference(_ references: [String], echo: Bool = true, _ action: (String) async throws -> some Any) async throws {
    var failed = false
    for reference in references {
        do {
            _ = try await action(reference)
            if echo { Output.line(reference) }
        } catch let error as WarrenError {
            Output.error(error.message)
            failed = true
        }
    }
    if failed { throw ExitCode(1) }
}
