import Synchronization

/// A queue between one producing task and one consuming task that holds at most
/// `capacity` elements: `send` waits while the consumer is that far behind, so a slow
/// or stalled reader costs memory for `capacity` elements, never for the whole stream.
///
/// The consumer going away (its stream released or its task cancelled) makes every
/// later `send` throw `CancellationError`, which ends the producer.
public final class BoundedQueue<Element: Sendable>: Sendable {
    private struct State {
        var buffer: [Element] = []
        var end: Result<Void, any Error>?
        var consumerGone = false
        var producer: CheckedContinuation<Void, any Error>?
        var consumer: CheckedContinuation<Element?, any Error>?
        var onConsumerLeft: (@Sendable () -> Void)?
    }

    private enum SendStep { case fail, handOver(CheckedContinuation<Element?, any Error>), resume, wait }
    private enum NextStep { case element(Element, CheckedContinuation<Void, any Error>?), end(Result<Void, any Error>), wait }

    private let state = Mutex(State())
    public let capacity: Int

    public init(capacity: Int) { self.capacity = max(1, capacity) }

    // MARK: - Producer

    /// Hands `element` on; waits while `capacity` elements are waiting for the consumer.
    public func send(_ element: Element) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let next: SendStep = state.withLock { s in
                    if s.consumerGone || s.end != nil || Task.isCancelled { return .fail }
                    if let consumer = s.consumer {
                        s.consumer = nil
                        return .handOver(consumer)
                    }
                    s.buffer.append(element)
                    if s.buffer.count < capacity { return .resume }
                    s.producer = c
                    return .wait
                }
                switch next {
                case .fail: c.resume(throwing: CancellationError())
                case .handOver(let consumer):
                    consumer.resume(returning: element)
                    c.resume()
                case .resume: c.resume()
                case .wait: break
                }
            }
        } onCancel: {
            let waiting = state.withLock { s in
                defer { s.producer = nil }
                return s.producer
            }
            waiting?.resume(throwing: CancellationError())
        }
    }

    /// Ends the stream after what is queued: normally, or with `error`.
    public func finish(throwing error: (any Error)? = nil) {
        let consumer = state.withLock { s -> CheckedContinuation<Element?, any Error>? in
            if s.end == nil { s.end = error.map { .failure($0) } ?? .success(()) }
            defer { s.consumer = nil }
            return s.consumer
        }
        if let error { consumer?.resume(throwing: error) } else { consumer?.resume(returning: nil) }
    }

    // MARK: - Consumer

    /// The next element; nil at the end or once the consuming task is cancelled.
    public func next() async throws -> Element? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Element?, any Error>) in
                let next: NextStep = state.withLock { s in
                    if !s.buffer.isEmpty {
                        let e = s.buffer.removeFirst()
                        defer { s.producer = nil }
                        return .element(e, s.producer)
                    }
                    if let end = s.end { return .end(end) }
                    if Task.isCancelled || s.consumerGone { return .end(.success(())) }
                    s.consumer = c
                    return .wait
                }
                switch next {
                case .element(let e, let producer):
                    producer?.resume()
                    c.resume(returning: e)
                case .end(.success): c.resume(returning: nil)
                case .end(.failure(let error)): c.resume(throwing: error)
                case .wait: break
                }
            }
        } onCancel: {
            let waiting = state.withLock { s in
                defer { s.consumer = nil }
                return s.consumer
            }
            waiting?.resume(returning: nil)
        }
    }

    /// Runs `action` once when the consumer leaves (to cancel a producer waiting elsewhere).
    public func onConsumerLeft(_ action: @escaping @Sendable () -> Void) {
        let gone = state.withLock { s in
            if !s.consumerGone { s.onConsumerLeft = action }
            return s.consumerGone
        }
        if gone { action() }
    }

    /// The consumer is gone: the producer's waiting and later sends fail, the queue empties,
    /// and a `next` still waiting returns nil.
    public func consumerLeft() {
        let (producer, consumer, action) = state.withLock { s in
            s.consumerGone = true
            s.buffer.removeAll()
            defer { s.producer = nil; s.consumer = nil; s.onConsumerLeft = nil }
            return (s.producer, s.consumer, s.onConsumerLeft)
        }
        producer?.resume(throwing: CancellationError())
        consumer?.resume(returning: nil)
        action?()
    }

    /// A stream over this queue for its one consumer; releasing the stream tells the producer.
    public func stream() -> AsyncThrowingStream<Element, any Error> {
        let reader = Reader(queue: self)
        return AsyncThrowingStream(unfolding: { try await reader.next() })
    }

    /// Tells the queue when the consumer's stream is released.
    private final class Reader: Sendable {
        let queue: BoundedQueue<Element>
        init(queue: BoundedQueue<Element>) { self.queue = queue }
        func next() async throws -> Element? { try await queue.next() }
        deinit { queue.consumerLeft() }
    }
}
