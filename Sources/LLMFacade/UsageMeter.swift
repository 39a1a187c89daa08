import Foundation

/// Tokens one call used, as the provider reported them.
public struct TokenUsage: Codable, Sendable, Equatable {
    public var inputTokens: Int64
    public var outputTokens: Int64
    public var total: Int64 { inputTokens + outputTokens }

    public init(inputTokens: Int64, outputTokens: Int64) {
        self.inputTokens = inputTokens; self.outputTokens = outputTokens
    }
}

/// Reads the model and token usage out of a provider's answer as it passes through,
/// without holding the answer back.
///
/// Streams (server-sent events) are read event by event: OpenAI's final chunk with
/// `usage` (`stream_options.include_usage`), the Responses API's `response.completed`,
/// Anthropic's `message_start` and its cumulative `message_delta`. A plain JSON answer
/// is kept up to `jsonLimit` bytes and read at the end.
public struct UsageMeter: Sendable {
    public let provider: LLMProvider
    public let streaming: Bool
    static let jsonLimit = 8 << 20

    public private(set) var model: String?
    public private(set) var usage: TokenUsage?
    private var sse = SSELineReader()
    private var body: [UInt8] = []

    public init(provider: LLMProvider, streaming: Bool) {
        self.provider = provider
        self.streaming = streaming
    }

    /// Takes the next piece of the answer's body.
    public mutating func feed(_ bytes: some Collection<UInt8>) {
        if streaming {
            for data in sse.feed(bytes) { readEvent(data) }
        } else if body.count + bytes.count <= Self.jsonLimit {
            body.append(contentsOf: bytes)
        }
    }

    /// The body has ended: reads a plain JSON answer, or a last event without its blank line.
    public mutating func finish() {
        if streaming {
            for data in sse.finish() { readEvent(data) }
        } else if let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] {
            read(object)
        }
    }

    private mutating func readEvent(_ data: String) {
        guard data != "[DONE]", let object = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else { return }
        switch object["type"] as? String {
        case "response.completed", "response.incomplete", "response.failed":
            if let response = object["response"] as? [String: Any] { read(response) }
        case "message_start":
            if let message = object["message"] as? [String: Any] { read(message) }
        case "message_delta":
            // Anthropic counts output cumulatively; input may be restated.
            if let u = object["usage"] as? [String: Any] {
                let input = Self.number(u["input_tokens"]).map { $0 + Self.cacheTokens(u) } ?? usage?.inputTokens ?? 0
                usage = TokenUsage(inputTokens: input, outputTokens: Self.number(u["output_tokens"]) ?? usage?.outputTokens ?? 0)
            }
        default:
            read(object)
        }
    }

    /// Takes `model` and `usage` from an answer object of either provider.
    private mutating func read(_ object: [String: Any]) {
        if let m = object["model"] as? String, !m.isEmpty { model = m }
        guard let u = object["usage"] as? [String: Any] else { return }
        if let input = Self.number(u["prompt_tokens"]) {
            usage = TokenUsage(inputTokens: input, outputTokens: Self.number(u["completion_tokens"]) ?? 0)
        } else if let input = Self.number(u["input_tokens"]) {
            usage = TokenUsage(inputTokens: input + Self.cacheTokens(u), outputTokens: Self.number(u["output_tokens"]) ?? 0)
        }
    }

    /// Anthropic reports cached input apart from `input_tokens`; it is input all the same.
    private static func cacheTokens(_ u: [String: Any]) -> Int64 {
        (number(u["cache_creation_input_tokens"]) ?? 0) + (number(u["cache_read_input_tokens"]) ?? 0)
    }

    private static func number(_ value: Any?) -> Int64? {
        (value as? NSNumber).map { $0.int64Value }
    }
}

/// Splits a server-sent event stream into the `data` of each event, across chunk boundaries.
struct SSELineReader: Sendable {
    private var line: [UInt8] = []
    private var data: [String] = []

    mutating func feed(_ bytes: some Collection<UInt8>) -> [String] {
        var events: [String] = []
        for b in bytes {
            if b == UInt8(ascii: "\n") {
                if let event = endLine() { events.append(event) }
            } else {
                line.append(b)
            }
        }
        return events
    }

    mutating func finish() -> [String] {
        var events: [String] = []
        if !line.isEmpty, let event = endLine() { events.append(event) }
        if !data.isEmpty { events.append(data.joined(separator: "\n")); data = [] }
        return events
    }

    /// Handles one complete line; returns an event's data when a blank line ends it.
    private mutating func endLine() -> String? {
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            guard !data.isEmpty else { return nil }
            defer { data = [] }
            return data.joined(separator: "\n")
        }
        let text = String(decoding: line, as: UTF8.self)
        if text.hasPrefix("data:") {
            let value = text.dropFirst(5)
            data.append(String(value.hasPrefix(" ") ? value.dropFirst() : value))
        }
        return nil
    }
}
