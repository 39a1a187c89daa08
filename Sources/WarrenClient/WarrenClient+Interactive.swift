import AsyncHTTPClient
import Foundation
import NIOCore
import WarrenCore

/// An exchange with a process that takes input: its output as it comes, and a way to
/// send it stdin, end of input, window sizes and signals. Both run over one HTTP
/// request whose body keeps streaming while the response does.
public struct InteractiveConnection: Sendable {
    public let output: AsyncThrowingStream<OutputChunk, any Error>
    private let input: AsyncStream<ByteBuffer>.Continuation

    init(output: AsyncThrowingStream<OutputChunk, any Error>, input: AsyncStream<ByteBuffer>.Continuation) {
        self.output = output
        self.input = input
    }

    public func send(_ message: AttachInput) {
        input.yield(InteractiveConnection.line(message))
    }

    public func sendInput(_ bytes: [UInt8]) { send(.input(bytes)) }
    public func closeInput() { send(.endOfInput) }
    public func resize(rows: UInt16, cols: UInt16) { send(AttachInput(resize: TerminalSize(rows: rows, cols: cols))) }
    public func signal(_ signal: Int32) { send(AttachInput(signal: signal)) }

    /// Ends the request; the daemon detaches (attach) or closes the process's stdin (exec).
    public func finish() { input.finish() }

    static func line(_ value: some Encodable) -> ByteBuffer {
        var buffer = ByteBuffer(bytes: (try? WarrenJSON.encoder().encode(value)) ?? Data())
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }
}

extension WarrenClient {
    /// Runs a process in a running sandbox with input: `request.stdin` keeps its stdin
    /// open, `request.tty` gives it a terminal.
    public func execInteractive(_ reference: String, _ request: ExecRequest) async throws -> InteractiveConnection {
        let (body, input) = AsyncStream<ByteBuffer>.makeStream()
        input.yield(InteractiveConnection.line(request))
        return try await open("/v1/sandboxes/\(Self.escape(reference))/exec", body: body, input: input)
    }

    /// Attaches to the main process of a sandbox created with `stdin` or `tty`: its output
    /// from the start, live until it exits.
    public func attach(_ reference: String) async throws -> InteractiveConnection {
        let (body, input) = AsyncStream<ByteBuffer>.makeStream()
        return try await open("/v1/sandboxes/\(Self.escape(reference))/attach", body: body, input: input)
    }

    /// Opens an agent session's CLI on a terminal: its output live until the CLI exits.
    public func attachAgent(_ reference: String, _ request: AgentAttachRequest) async throws -> InteractiveConnection {
        let (body, input) = AsyncStream<ByteBuffer>.makeStream()
        input.yield(InteractiveConnection.line(request))
        return try await open("/v1/agents/\(Self.escape(reference))/attach", body: body, input: input)
    }

    /// Sends a signal to a running sandbox's main process.
    public func kill(_ reference: String, signal: Int32) async throws {
        let response = try await send(.POST, "/v1/sandboxes/\(Self.escape(reference))/kill",
                                      body: try WarrenJSON.encoder().encode(KillRequest(signal: signal)), stream: false)
        _ = try await response.body.collect(upTo: 1 << 20)
    }

    private func open(_ uri: String, body: AsyncStream<ByteBuffer>,
                      input: AsyncStream<ByteBuffer>.Continuation) async throws -> InteractiveConnection {
        let response: HTTPClientResponse
        do {
            response = try await send(.POST, uri, body: .stream(body, length: .unknown),
                                      contentType: "application/x-ndjson", stream: true)
        } catch {
            input.finish()
            throw error
        }
        let lines = NDJSONLines.decode(OutputChunk.self, from: response.body)
        // Once the process has exited there is nothing left to send to: ending the
        // request lets the daemon end the response.
        let output = AsyncThrowingStream<OutputChunk, any Error> { continuation in
            let task = Task {
                do {
                    for try await chunk in lines {
                        continuation.yield(chunk)
                        if chunk.stream == "exit" { input.finish() }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
                input.finish()
            }
            continuation.onTermination = { _ in task.cancel(); input.finish() }
        }
        return InteractiveConnection(output: output, input: input)
    }
}
