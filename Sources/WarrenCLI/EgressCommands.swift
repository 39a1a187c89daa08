import ArgumentParser
import Foundation
import WarrenClient
import WarrenCore

/// The egress flags of `run` and `agent run`.
struct EgressOptions: ParsableArguments {
    @Option(name: .customLong("allow-host"),
            help: "Let the sandbox reach a host through its egress proxy: pypi.org, *.pythonhosted.org, github.com:443 or a CIDR block (repeatable).")
    var allowHosts: [String] = []
    @Option(name: .customLong("egress-preset"), help: "Allow a named set of hosts from the daemon's config, e.g. python or git (repeatable).")
    var presets: [String] = []
    @Option(name: .customLong("add-host"), help: "Have the egress proxy resolve NAME to ADDRESS (NAME:ADDRESS, repeatable).")
    var addHosts: [String] = []
    @Option(name: .customLong("egress-budget"), help: "Bytes the sandbox may move through its proxy in all, e.g. 500m.")
    var budget: String?
    @Option(name: .customLong("egress-secret"),
            help: "Have the proxy add a secret of the daemon's config (headers for its hosts) to the sandbox's requests; the sandbox never holds it (repeatable).")
    var secrets: [String] = []

    /// The egress asked for; nil when no flag asks for any.
    func access() throws -> EgressAccess? {
        guard !allowHosts.isEmpty || !presets.isEmpty || !addHosts.isEmpty || budget != nil || !secrets.isEmpty else { return nil }
        let access = EgressAccess(allow: allowHosts, presets: presets, hosts: addHosts, budgetBytes: try budget.map(ByteSize.parse),
                                  secrets: secrets)
        try access.validate()
        return access
    }
}

/// `warren network allow|deny SANDBOX PATTERN...`: change what a running sandbox may reach.
struct NetworkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network", abstract: "Change which hosts a sandbox's egress proxy lets it reach.",
        subcommands: [Allow.self, Deny.self])

    struct Allow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Allow hosts, domains or CIDR blocks; new connections follow at once.")
        @OptionGroup var client: ClientOptions
        @Flag(help: "Print JSON.") var json = false
        @Argument(help: "Sandbox id, id prefix or name.") var sandbox: String
        @Argument(help: "Patterns: pypi.org, *.pythonhosted.org, github.com:443, 10.0.0.0/8.") var patterns: [String]

        func run() async throws {
            try await NetworkCommand.change(client, sandbox, EgressChange(allow: patterns), json: json)
        }
    }

    struct Deny: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deny hosts, domains or CIDR blocks, even where an allow pattern matches.")
        @OptionGroup var client: ClientOptions
        @Flag(help: "Print JSON.") var json = false
        @Argument(help: "Sandbox id, id prefix or name.") var sandbox: String
        @Argument(help: "Patterns, as for allow.") var patterns: [String]

        func run() async throws {
            try await NetworkCommand.change(client, sandbox, EgressChange(deny: patterns), json: json)
        }
    }

    static func change(_ client: ClientOptions, _ sandbox: String, _ change: EgressChange, json: Bool) async throws {
        let egress = try await client.client().changeEgress(sandbox, change)
        if json { return try Output.json(egress) }
        print("allowed: " + (egress.access?.allow.joined(separator: " ") ?? ""))
        if let denied = egress.access?.deny, !denied.isEmpty { print("denied: " + denied.joined(separator: " ")) }
    }
}

/// `warren egress SANDBOX`: the connections a sandbox's egress proxy saw.
struct EgressCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "egress", abstract: "Show a sandbox's egress policy and every connection its proxy saw.")

    @OptionGroup var client: ClientOptions
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "Sandbox id, id prefix or name.") var sandbox: String

    func run() async throws {
        let egress = try await client.client().egress(sandbox)
        if json { return try Output.json(egress) }
        guard let access = egress.access else {
            print("sandbox \(egress.id.prefix(12)) has no egress")
            return
        }
        print("allowed: " + (access.allow.isEmpty ? "(nothing)" : access.allow.joined(separator: " ")))
        if !access.deny.isEmpty { print("denied: " + access.deny.joined(separator: " ")) }
        print("bytes: \(egress.bytesUsed)" + (access.budgetBytes.map { " of \($0)" } ?? ""))
        let time = ISO8601DateFormatter()
        Output.table(["TIME", "VIA", "HOST", "PORT", "ADDRESS", "ALLOWED", "OUT", "IN", "REASON"], egress.connections.map { c in
            [time.string(from: c.time), c.via, c.host, "\(c.port)", c.address ?? "-", c.allowed ? "yes" : "no",
             "\(c.bytesOut)", "\(c.bytesIn)", c.reason ?? ""]
        })
    }
}
