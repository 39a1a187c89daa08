import ArgumentParser
import Foundation
import WarrenCore

/// `warren notebook SANDBOX [--open] [--json]`: a one-time link to the sandbox's notebook.
struct NotebookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notebook",
        abstract: "Print a one-time link to a notebook sandbox (started with run --notebook).",
        discussion: """
        The link works once and for a few minutes: opening it signs the browser in to this \
        sandbox's notebook only, with a cookie scoped to its /notebooks/<id>/ path. The daemon \
        serves notebooks on its TCP listener (warren daemon --listen HOST:PORT).
        """)

    @OptionGroup var client: ClientOptions
    @Flag(help: "Open the link in a browser (xdg-open).")
    var open = false
    @Flag(help: "Print JSON.")
    var json = false
    @Argument(help: "Sandbox id, id prefix or name.")
    var sandbox: String

    func run() async throws {
        let link = try await client.client().notebookLink(sandbox)
        if json { try Output.json(link) } else { Output.line(link.url) }
        guard open else { return }
        let opener = Process()
        opener.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        opener.arguments = ["xdg-open", link.url]
        do {
            try opener.run()
            opener.waitUntilExit()
        } catch {
            throw WarrenError(.unavailable, "cannot open a browser (xdg-open: \(error)); open the link above by hand")
        }
        if opener.terminationStatus != 0 {
            throw WarrenError(.unavailable, "xdg-open failed with status \(opener.terminationStatus); open the link above by hand")
        }
    }
}
