import ArgumentParser
import Foundation
import WarrenCore

/// `warren usage [SANDBOX...]`: what sandboxes used of models through the LLM facade.
struct UsageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage", abstract: "Show LLM usage per sandbox and model, and each sandbox's budget.")

    @OptionGroup var client: ClientOptions
    @Flag(help: "Print JSON.")
    var json = false
    @Argument(help: "Sandbox ids, id prefixes or names (default: every sandbox with LLM access).")
    var sandboxes: [String] = []

    func run() async throws {
        let warren = try client.client()
        var reports: [SandboxUsage] = []
        if sandboxes.isEmpty {
            for info in try await warren.listSandboxes(all: true) where info.spec.llm != nil {
                reports.append(try await warren.usage(info.id))
            }
        } else {
            for reference in sandboxes { reports.append(try await warren.usage(reference)) }
        }
        if json { return try Output.json(sandboxes.count == 1 ? AnyEncodable(reports[0]) : AnyEncodable(reports)) }
        var rows: [[String]] = []
        for report in reports {
            let id = String(report.id.prefix(12))
            let budget = Self.budget(report)
            if report.usage.isEmpty { rows.append([id, "-", "-", "0", "0", "0", budget]) }
            for use in report.usage {
                rows.append([id, use.provider, use.model, "\(use.requests)", "\(use.inputTokens)", "\(use.outputTokens)", budget])
            }
        }
        Output.table(["SANDBOX ID", "PROVIDER", "MODEL", "REQUESTS", "INPUT TOKENS", "OUTPUT TOKENS", "BUDGET"], rows)
    }

    static func budget(_ report: SandboxUsage) -> String {
        guard let llm = report.llm else { return "no LLM access" }
        var parts: [String] = []
        if let tokens = llm.budgetTokens { parts.append("\(tokens) tokens") }
        if let requests = llm.budgetRequests { parts.append("\(requests) requests") }
        if let rpm = llm.requestsPerMinute { parts.append("\(rpm)/min") }
        return parts.isEmpty ? "unlimited" : parts.joined(separator: ", ")
    }
}

/// Lets one call print either a single value or a list.
struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
