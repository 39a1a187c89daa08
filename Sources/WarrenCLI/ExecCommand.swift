import ArgumentParser
import Foundation
import WarrenClient
import WarrenCore

/// `warren exec`: run a further process in a running sandbox and exit with its code.
struct ExecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec", abstract: "Run a command in a running sandbox.",
        usage: "warren exec [OPTIONS] SANDBOX -- COMMAND [ARG...]")

    @OptionGroup var client: ClientOptions
    @Flag(name: .shortAndLong, help: "Keep stdin open (not yet supported).")
    var interactive = false
    @Flag(name: .shortAndLong, help: "Allocate a terminal (not yet supported).")
    var tty = false
    @Option(name: [.customShort("e"), .customLong("env")], help: "Set an environment variable (KEY=VALUE).")
    var env: [String] = []
    @Option(name: [.customShort("w"), .customLong("workdir")], help: "Working directory.")
    var workdir: String?
    @Option(name: .shortAndLong, help: "User: uid[:gid] or a name.")
    var user: String?

    @Argument(help: "Sandbox id, id prefix or name.")
    var sandbox: String
    @Argument(parsing: .postTerminator, help: "The command, after --.")
    var command: [String] = []

    func run() async throws {
        var exitCode: Int32?
        do {
            if interactive || tty {
                throw WarrenError(.unsupported, "interactive exec (-i/-t) is not supported yet")
            }
            guard !command.isEmpty else { throw WarrenError(.invalidArgument, "no command given: put it after --") }
            for entry in env where !entry.contains("=") {
                throw WarrenError(.invalidArgument, "environment entry '\(entry)' must be KEY=VALUE")
            }
            let request = ExecRequest(command: command, env: env, workdir: workdir, user: user, tty: tty)
            exitCode = try await Output.relay(try await client.client().exec(sandbox, request))
        } catch {
            throw CLIFailure.beforeRun(error)
        }
        guard let exitCode else { throw CLIFailure("the process's exit code was not reported", code: 125) }
        throw ExitCode(exitCode)
    }
}
