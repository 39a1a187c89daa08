import Foundation
import WarrenCore

extension AgentManager {
    /// The CLI's own output lines the session kept (bounded), oldest first.
    public func rawLines(_ reference: String) async throws -> AsyncThrowingStream<AgentRawLine, any Error> {
        let lines = try await store.agents.rawLines(try await resolve(reference))
        return AsyncThrowingStream { continuation in
            for line in lines { continuation.yield(line) }
            continuation.finish()
        }
    }

    /// The session's events after `since`; with `follow`, then each new one until the session ends.
    public func events(_ reference: String, since: Int64 = 0, follow: Bool) async throws -> AsyncThrowingStream<AgentEvent, any Error> {
        let id = try await resolve(reference)
        let store = self.store
        let queue = BoundedQueue<AgentEvent>(capacity: 64)
        guard follow else {
            let task = Task {
                do {
                    var last = since
                    while true {
                        let page = try await store.agents.events(id, since: last, limit: 1_000)
                        for e in page { try await queue.send(e); last = e.seq }
                        if page.count < 1_000 { break }
                    }
                    queue.finish()
                } catch { queue.finish(throwing: error) }
            }
            queue.onConsumerLeft { task.cancel() }
            return queue.stream()
        }
        guard !isShuttingDown else { throw WarrenError(.unavailable, "the daemon is shutting down") }
        // Subscribe before reading history so nothing falls between the two; seq dedupes.
        let (liveEvents, continuation) = AsyncStream<AgentEvent>.makeStream(bufferingPolicy: .bufferingNewest(1_000))
        let key = UUID()
        subscribers[id, default: [:]][key] = continuation
        continuation.onTermination = { _ in Task { await self.unsubscribe(id, key) } }
        let finalAlready = try row(id).info.state.isFinal
        let task = Task {
            do {
                var last = since
                var ended = false
                func catchUp() async throws {
                    while true {
                        let page = try await store.agents.events(id, since: last, limit: 1_000)
                        for e in page {
                            try await queue.send(e)
                            last = e.seq
                            if e.type == .sessionEnded { ended = true }
                        }
                        if page.count < 1_000 { break }
                    }
                }
                try await catchUp()
                if !ended && !finalAlready {
                    for await e in liveEvents where e.seq > last {
                        if e.seq > last + 1 { try await catchUp() }
                        if e.seq > last {
                            try await queue.send(e)
                            last = e.seq
                            if e.type == .sessionEnded { ended = true }
                        }
                        if ended { break }
                    }
                }
                continuation.finish()
                queue.finish()
            } catch {
                continuation.finish()
                queue.finish(throwing: error)
            }
        }
        queue.onConsumerLeft { task.cancel() }
        return queue.stream()
    }

    func unsubscribe(_ id: String, _ key: UUID) {
        subscribers[id]?[key] = nil
        if subscribers[id]?.isEmpty == true { subscribers[id] = nil }
    }
}
