import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import WarrenClient
import WarrenCore

/// `warren exec`: run a further process in a running sandbox and exit with its code.
struct ExecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec", abstract: "Run a command in a running sandbox.",
        usage: "warren exec [OPTIONS] SANDBOX -- COMMAND [ARG...]")

    @OptionGroup var client: ClientOptions
    @Flag(name: .shortAndLong, help: "Keep stdin open and send it to the process.")
    var interactive = false
    @Flag(name: .shortAndLong, help: "Give the process a terminal (with -i: raw mode, resize, Ctrl-C).")
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
            guard !command.isEmpty else { throw WarrenError(.invalidArgument, "no command given: put it after --") }
            if interactive && tty && !Terminal.isTerminal(STDIN_FILENO) {
                throw WarrenError(.invalidArgument, "the input device is not a TTY: drop -t, or run from a terminal")
            }
            let request = ExecRequest(command: command, env: env, workdir: workdir, user: user, tty: tty,
                                      stdin: interactive, consoleSize: tty ? Terminal.size() : nil)
            try request.validate()
            let connection = try await client.client().execInteractive(sandbox, request)
            exitCode = try await InteractiveRelay.run(connection, stdin: interactive, tty: tty)
        } catch {
            throw CLIFailure.beforeRun(error)
        }
        guard let exitCode else { throw CLIFailure("the process's exit code was not reported", code: 125) }
        throw ExitCode(exitCode)
    }
}
