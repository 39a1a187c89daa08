import NIOCore
import NIOHTTP1
import NIOPosix

/// A facade call made from async code (the daemon's own HTTP server, under `/llm`): runs
/// the exchange on an event loop and hands back the answer's head and its body as an
/// async sequence that pulls from the upstream only as fast as it is consumed.
public enum FacadeStreamedCall {
    public typealias Body = NIOThrowingAsyncSequenceProducer<
        ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, BodyFlow>

    /// Forwards `head` and `body` (gathered already; nil when it was over
    /// `FacadeProxy.requestLimit`) as `proxy` does for its own listeners.
    public static func run(_ proxy: FacadeProxy, head: HTTPRequestHead, body: ByteBuffer?,
                           listener: String?) async -> (HTTPResponseHead, Body) {
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let box = NIOLoopBoundBox.makeEmptyBox(valueType: StreamedDownstream.self, eventLoop: loop)
        let produced = Body.makeSequence(
            backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8), finishOnDeinit: false,
            delegate: BodyFlow(box: box, loop: loop))
        let answer = await withCheckedContinuation { (continuation: CheckedContinuation<HTTPResponseHead, Never>) in
            loop.execute {
                let downstream = StreamedDownstream(source: produced.source, head: continuation)
                box.value = downstream
                downstream.exchange = FacadeExchange.prepare(proxy, head: head, body: body, listener: listener, on: loop,
                                                             downstream: downstream)
                downstream.exchange?.start()
            }
        }
        return (answer, produced.sequence)
    }

    /// Resumes the upstream when the consumer wants more, and ends the call if it leaves.
    public struct BodyFlow: NIOAsyncSequenceProducerDelegate {
        let box: NIOLoopBoundBox<StreamedDownstream?>
        let loop: any EventLoop

        public func produceMore() {
            loop.execute { box.value?.exchange?.resume() }
        }

        public func didTerminate() {
            loop.execute {
                box.value?.exchange?.cancel()
                box.value = nil
            }
        }
    }
}

/// The answer's receiving end for `FacadeStreamedCall`, on the exchange's event loop.
final class StreamedDownstream: FacadeDownstream {
    typealias Source = FacadeStreamedCall.Body.Source
    let source: Source
    private var head: CheckedContinuation<HTTPResponseHead, Never>?
    var exchange: FacadeExchange?

    init(source: Source, head: CheckedContinuation<HTTPResponseHead, Never>) {
        self.source = source
        self.head = head
    }

    func respond(head answer: HTTPResponseHead) {
        head?.resume(returning: answer)
        head = nil
    }

    func respond(body: ByteBuffer) -> Bool {
        source.yield(body) == .produceMore
    }

    func respondEnd() {
        exchange = nil
        source.finish()
    }

    func abort() {
        exchange = nil
        if head != nil { respond(head: HTTPResponseHead(version: .http1_1, status: .badGateway)) }
        source.finish(FacadeStreamError.brokenOff)
    }
}

enum FacadeStreamError: Error {
    /// The upstream's answer ended before it was complete.
    case brokenOff
}
