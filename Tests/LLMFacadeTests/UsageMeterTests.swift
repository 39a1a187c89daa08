import LLMFacade
import Testing

@Suite("Usage metering")
struct UsageMeterTests {
    /// Feeds `text` in pieces of `size` bytes, as a network would.
    static func meter(_ provider: LLMProvider, streaming: Bool, _ text: String, size: Int) -> UsageMeter {
        var meter = UsageMeter(provider: provider, streaming: streaming)
        let bytes = Array(text.utf8)
        var at = 0
        while at < bytes.count {
            meter.feed(bytes[at..<min(bytes.count, at + size)])
            at += size
        }
        meter.finish()
        return meter
    }

    @Test("OpenAI chat completion, plain and streamed with the include_usage chunk")
    func openAIChat() {
        let plain = #"{"id":"c1","model":"gpt-4o-mini-2024","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}"#
        let m = Self.meter(.openai, streaming: false, plain, size: 7)
        #expect(m.model == "gpt-4o-mini-2024" && m.usage == TokenUsage(inputTokens: 12, outputTokens: 5))

        let stream = """
        data: {"model":"gpt-4o-mini","choices":[{"delta":{"content":"Hi"}}],"usage":null}\r
        \r
        data: {"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}

        data: [DONE]


        """
        for size in [1, 3, 64, 4096] {
            let s = Self.meter(.openai, streaming: true, stream, size: size)
            #expect(s.model == "gpt-4o-mini" && s.usage == TokenUsage(inputTokens: 9, outputTokens: 2), "piece size \(size)")
        }
    }

    @Test("OpenAI Responses: usage from the body, or from response.completed in a stream")
    func openAIResponses() {
        let plain = #"{"object":"response","model":"gpt-4.1","usage":{"input_tokens":30,"output_tokens":7,"total_tokens":37}}"#
        #expect(Self.meter(.openai, streaming: false, plain, size: 5).usage == TokenUsage(inputTokens: 30, outputTokens: 7))
        let stream = """
        event: response.created
        data: {"type":"response.created","response":{"model":"gpt-4.1","usage":null}}

        event: response.output_text.delta
        data: {"type":"response.output_text.delta","delta":"x"}

        event: response.completed
        data: {"type":"response.completed","response":{"model":"gpt-4.1","usage":{"input_tokens":21,"output_tokens":4}}}

        """
        let s = Self.meter(.openai, streaming: true, stream, size: 10)
        #expect(s.model == "gpt-4.1" && s.usage == TokenUsage(inputTokens: 21, outputTokens: 4))
    }

    @Test("Anthropic messages: plain with cache tokens; streamed message_start then cumulative message_delta")
    func anthropic() {
        let plain = #"{"type":"message","model":"claude-x","usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":3}}"#
        let m = Self.meter(.anthropic, streaming: false, plain, size: 4)
        #expect(m.model == "claude-x" && m.usage == TokenUsage(inputTokens: 15, outputTokens: 3))
        let stream = """
        event: message_start
        data: {"type":"message_start","message":{"model":"claude-x","usage":{"input_tokens":25,"output_tokens":1}}}

        event: content_block_delta
        data: {"type":"content_block_delta","delta":{"type":"text_delta","text":"Hi"}}

        event: message_delta
        data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":6}}

        event: message_delta
        data: {"type":"message_delta","delta":{},"usage":{"output_tokens":15}}

        event: message_stop
        data: {"type":"message_stop"}
        """
        for size in [1, 17, 1000] {
            let s = Self.meter(.anthropic, streaming: true, stream, size: size)
            #expect(s.model == "claude-x" && s.usage == TokenUsage(inputTokens: 25, outputTokens: 15), "piece size \(size)")
        }
    }

    @Test("an answer without usage (an error, count_tokens) records none")
    func noUsage() {
        #expect(Self.meter(.openai, streaming: false, #"{"error":{"message":"bad"}}"#, size: 3).usage == nil)
        #expect(Self.meter(.anthropic, streaming: false, #"{"input_tokens":42}"#, size: 3).usage == nil)
        #expect(Self.meter(.openai, streaming: true, "data: not json\n\n", size: 3).usage == nil)
    }
}
