import Foundation
import WarrenCore

/// Agent events as readable lines: text as the agent wrote it, one line per tool call
/// and result, shortened.
enum AgentEventFormat {
    static func line(_ e: AgentEvent) -> String? {
        switch e.type {
        case .sessionStarted: return "● session: \(e.text ?? "")"
        case .turnStarted: return "▶ turn \(e.turn): \(short(e.text ?? "", 200))"
        case .assistantText: return e.text
        case .toolCall: return "→ \(e.tool ?? "tool") \(short(input(e.input), 160))"
        case .toolResult:
            let first = (e.excerpt ?? "").split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? ""
            return "  ← \(e.ok == false ? "error" : "ok")\(first.isEmpty ? "" : ": " + short(first, 160))"
        case .usage: return "· tokens: \(e.inputTokens ?? 0) in, \(e.outputTokens ?? 0) out"
        case .turnCompleted:
            let took = e.durationMs.map { String(format: " in %.1f s", Double($0) / 1000) } ?? ""
            return e.ok == false ? "✗ turn \(e.turn) failed\(took)" : "✓ turn \(e.turn) done\(took)"
        case .error: return "! \(e.text ?? "error")"
        case .sessionEnded: return "■ session \(e.state?.rawValue ?? "ended")\(e.text.map { ": \($0)" } ?? "")"
        }
    }

    /// A tool's input in a few words: its command or path when it has one, else compact JSON.
    static func input(_ value: JSONValue?) -> String {
        guard let value else { return "" }
        for key in ["command", "cmd", "file_path", "path", "pattern", "query", "url"] {
            if let s = value[key]?.stringValue { return s }
            if let a = value[key]?.arrayValue { return a.compactMap(\.stringValue).joined(separator: " ") }
        }
        return value.compactText
    }

    static func short(_ text: String, _ length: Int) -> String {
        let one = text.replacingOccurrences(of: "\n", with: " ⏎ ")
        return one.count <= length ? one : String(one.prefix(length - 1)) + "…"
    }
}
