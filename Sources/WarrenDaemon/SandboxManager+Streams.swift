import Foundation
import Logging
import RuntimeDriver
import WarrenCore

// MARK: - Logs

extension SandboxManager {
    /// The sandbox's output as chunks. With `follow`, the stream runs until the sandbox
    /// ends and then closes with an `exit` chunk carrying its exit code.
    public func logs(_ reference: String, follow: Bool) async throws -> AsyncThrowingStream<OutputChunk, any Error> {
        let info = try await store.sandboxes.resolve(reference)
        let source = try await driver(for: info).logs(id: info.id, follow: follow)
        let id = info.id
        return pump { sink in
            for try await record in source {
                try await sink.send(.output(record.stream, record.payload, time: record.date))
            }
            guard follow, !Task.isCancelled else { return }
            await self.awaitExit(id, timeout: .seconds(10))
            if let ended = try await self.store.sandboxes.get(id: id), ended.state.isTerminal {
                try await sink.send(OutputChunk(stream: "exit", exitCode: ended.exitCode))
            }
        }
    }
}

// MARK: - Events

extension SandboxManager {
    /// Events after sequence number `since`; with `follow`, then every new one as it happens.
    public func events(since: Int64 = 0, follow: Bool) async throws -> AsyncThrowingStream<SandboxEvent, any Error> {
        guard follow else {
            let history = try await store.events.events(since: since)
            return AsyncThrowingStream { continuation in
                for event in history { continuation.yield(event) }
                continuation.finish()
            }
        }
        guard !isShuttingDown else { throw WarrenError(.unavailable, "the daemon is shutting down") }
        // Subscribe before reading history so nothing falls between the two; seq dedupes.
        let (live, liveContinuation) = AsyncStream<SandboxEvent>.makeStream(bufferingPolicy: .bufferingNewest(1_000))
        let key = UUID()
        subscribers[key] = liveContinuation
        liveContinuation.onTermination = { _ in Task { await self.unsubscribe(key) } }
        let store = self.store
        return pump { sink in
            var last = since
            // History from the store, page by page, as fast as the client reads it.
            func catchUp() async throws {
                while true {
                    let page = try await store.events.events(since: last, limit: 1_000)
                    for event in page { try await sink.send(event); last = event.seq }
                    if page.count < 1_000 { break }
                }
            }
            try await catchUp()
            for await event in live where event.seq > last {
                // A reader so slow that the live buffer dropped events reads them back
                // from the store: it misses none and holds no more than the buffer.
                if event.seq > last + 1 { try await catchUp() }
                if event.seq > last {
                    try await sink.send(event)
                    last = event.seq
                }
            }
            liveContinuation.finish()
        }
    }

    /// Hands a new event to every live subscriber.
    func publish(_ event: SandboxEvent) {
        for continuation in subscribers.values { continuation.yield(event) }
    }

    func unsubscribe(_ key: UUID) {
        subscribers[key] = nil
    }
}

// MARK: - Stream plumbing and shutdown

/// Where a pump's producer hands its elements; `send` waits while the consumer is behind.
struct PumpSink<Element: Sendable>: Sendable {
    let queue: BoundedQueue<Element>
    func send(_ element: Element) async throws { try await queue.send(element) }
}

extension SandboxManager {
    /// Runs `body` in a task feeding the returned stream through a queue of `capacity`
    /// elements: the task waits while the consumer is behind, and is cancelled when the
    /// consumer goes away or the daemon shuts down.
    func pump<Element: Sendable>(
        capacity: Int = 16,
        _ body: @escaping @Sendable (PumpSink<Element>) async throws -> Void
    ) -> AsyncThrowingStream<Element, any Error> {
        let queue = BoundedQueue<Element>(capacity: capacity)
        let key = UUID()
        let task = Task.detached {
            do {
                try await body(PumpSink(queue: queue))
                queue.finish()
            } catch is CancellationError {
                queue.finish()
            } catch {
                queue.finish(throwing: error)
            }
            await self.endPump(key)
        }
        pumps[key] = task
        queue.onConsumerLeft { task.cancel() }
        return queue.stream()
    }

    func endPump(_ key: UUID) {
        pumps[key] = nil
    }

    /// Ends every open stream and stops waiting on sandboxes; they keep running and
    /// are re-adopted at the next start.
    public func shutdown() async {
        guard !isShuttingDown else { return }
        isShuttingDown = true
        logger.info("sandbox manager shutting down", metadata: ["streams": "\(pumps.count)", "waiters": "\(waiters.count)"])
        for continuation in subscribers.values { continuation.finish() }
        subscribers.removeAll()
        for task in pumps.values { task.cancel() }
        for task in waiters.values { task.cancel() }
        waiters.removeAll()
        for name in drivers.names { await drivers.drivers[name]?.pruneShared() }
    }
}
