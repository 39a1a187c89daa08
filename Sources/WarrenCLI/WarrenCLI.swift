import ArgumentParser
import Foundation
import WarrenClient
import WarrenCore

/// The `warren` command line. `main.swift` only calls `WarrenCLI.main()`.
///
/// Exit codes: a command's own failure prints `warren: <message>` and exits 1; `run`
/// and `exec` exit with the sandboxed process's code, or 125 when the daemon or the
/// request failed before the process ran (as `docker run` does); usage errors exit 64.
public enum WarrenCLI {
    public static func main(_ arguments: [String]? = nil) async -> Never {
        do {
            var command = try WarrenCommand.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            exit(0)
        } catch let failure as CLIFailure {
            Output.error(failure.message)
            exit(failure.code)
        } catch let error as WarrenError {
            Output.error(error.message)
            exit(1)
        } catch {
            WarrenCommand.exit(withError: error)
        }
    }
}

/// A failure with a chosen exit code.
struct CLIFailure: Error {
    var message: String
    var code: Int32

    init(_ message: String, code: Int32 = 1) { self.message = message; self.code = code }

    /// Before the sandboxed process ran: exit 125 like `docker run`.
    static func beforeRun(_ error: any Error) -> any Error {
        switch error {
        case let e as WarrenError: CLIFailure(e.message, code: 125)
        case let e as CLIFailure: e
        default: error
        }
    }
}

struct WarrenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warren",
        abstract: "Run untrusted AI agents in sandboxes.",
        version: warrenVersion,
        subcommands: [
            DaemonCommand.self, RunCommand.self, ExecCommand.self, LogsCommand.self, PsCommand.self,
            StopCommand.self, RmCommand.self, InspectCommand.self, InfoCommand.self, VersionCommand.self,
            EventsCommand.self, UsageCommand.self, NotebookCommand.self, PullCommand.self, ImagesCommand.self, RmiCommand.self, ImageCommand.self,
            AgentCommand.self, NetworkCommand.self, EgressCommand.self,
        ])
}

/// `--host` on every command that talks to the daemon.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: "Daemon address: unix:///path or http://HOST:PORT (default: $WARREN_HOST or the local socket).")
    var host: String?

    /// A client for `--host`, `WARREN_HOST` or the default socket; token from `WARREN_TOKEN`.
    func client() throws -> WarrenClient {
        try WarrenClient.fromEnvironment(host: host)
    }
}
