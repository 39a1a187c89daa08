import Foundation
import NIOCore
import NIOHTTP1
import WarrenCore

/// Where an exchange sends the answer: the client's connection. Called on the exchange's
/// event loop only.
protocol FacadeDownstream: AnyObject {
    func respond(head: HTTPResponseHead)
    /// Passes a piece of the body on; returns false when the client is not taking more,
    /// until it calls `FacadeExchange.resume()`.
    func respond(body: ByteBuffer) -> Bool
    func respondEnd()
    /// The answer broke off after its head was sent: the client's connection must close.
    func abort()
}

extension FacadeDownstream {
    /// The facade's own answer, whole, in the provider's error format.
    func respond(refusal: FacadeRefusal, _ provider: LLMProvider, status: HTTPResponseStatus? = nil, version: HTTPVersion) {
        let (head, body) = FacadeProxy.refusalResponse(refusal, provider, status: status, version: version)
        respond(head: head)
        _ = respond(body: body)
        respondEnd()
    }
}

/// One forwarded call, confined to one event loop: admits it, sends it upstream on a pooled
/// connection of the same loop, and passes the answer to the client part by part as it
/// arrives, reading usage on the way and recording the call at its end.
final class FacadeExchange {
    let proxy: FacadeProxy
    let eventLoop: any EventLoop
    let head: HTTPRequestHead
    let body: ByteBuffer
    let route: FacadeRoute
    let listener: String?
    weak var downstream: (any FacadeDownstream)?

    private enum Phase {
        case admitting
        case sending(any Channel, UpstreamEndpoint)
        case relaying(any Channel, UpstreamEndpoint, reusable: Bool)
        case done
    }
    private var phase = Phase.admitting
    private let started = ContinuousClock.now
    private var call: LLMCallRecord
    private var meter: UsageMeter?
    private var metered = false
    /// The client stopped taking the answer: the upstream is not read until it resumes.
    private var paused = false
    /// Where the call goes, once admitted.
    private var target: (endpoint: UpstreamEndpoint, key: String)?
    /// The request went out on a pooled connection and was not sent again yet: if that
    /// connection closes before any answer, the upstream had let it go idle, and the
    /// call is sent once more on a new one (as HTTP clients do for a stale keep-alive).
    private var mayResend = false
    private var resent = false

    init(proxy: FacadeProxy, eventLoop: any EventLoop, head: HTTPRequestHead, body: ByteBuffer, route: FacadeRoute,
         listener: String?, downstream: any FacadeDownstream) {
        self.proxy = proxy
        self.eventLoop = eventLoop
        self.head = head
        self.body = body
        self.route = route
        self.listener = listener
        self.downstream = downstream
        call = LLMCallRecord(sandboxID: "", provider: route.provider.rawValue, model: "", endpoint: route.path,
                             status: 0, latencyMs: 0)
    }

    /// The call `head` asks for, answered through `downstream`: the facade's own refusal,
    /// sent at once, for a route it does not serve or a body over the limit (`body` nil);
    /// else an exchange for the caller to hold and then `start()`.
    static func prepare(_ proxy: FacadeProxy, head: HTTPRequestHead, body: ByteBuffer?, listener: String?,
                      on eventLoop: any EventLoop, downstream: any FacadeDownstream) -> FacadeExchange? {
        let path = String(head.uri.prefix { $0 != "?" })
        switch FacadeRoutes.decide(method: head.method, path: path, headers: head.headers) {
        case .refuse(let refusal, let provider, let status):
            downstream.respond(refusal: refusal, provider, status: status, version: head.version)
            return nil
        case .forward(let route):
            guard let body else {
                downstream.respond(refusal: FacadeRefusal(.badRequest, "the request body is larger than \(FacadeProxy.requestLimit >> 20) MiB"),
                                   route.provider, status: .payloadTooLarge, version: head.version)
                return nil
            }
            let exchange = FacadeExchange(proxy: proxy, eventLoop: eventLoop, head: head, body: body, route: route,
                                          listener: listener, downstream: downstream)
            return exchange
        }
    }

    // MARK: - Admission

    func start() {
        guard let token = FacadeProxy.clientToken(head.headers), FacadeToken.isWellFormed(token) else {
            return refuse(FacadeRefusal(.unauthenticated, FacadeProxy.unauthenticated), audit: false)
        }
        let hash = FacadeToken.hash(token)
        if let grant = proxy.accounts.cachedGrant(hash: hash) { return authorized(grant) }
        // First call with this token: one read of the store, then back on this loop.
        let accounts = proxy.accounts
        let exchange = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.makeFutureWithTask { await accounts.grant(for: token) }.whenComplete { result in
            guard case .success(let grant?) = result else {
                return exchange.value.refuse(FacadeRefusal(.unauthenticated, FacadeProxy.unauthenticated), audit: false)
            }
            exchange.value.authorized(grant)
        }
    }

    private func authorized(_ grant: LLMGrant) {
        // The client may have left while the store answered: reserve nothing for it.
        guard case .admitting = phase else { return }
        guard listener == nil || listener == grant.sandboxID else {
            return refuse(FacadeRefusal(.unauthenticated, FacadeProxy.unauthenticated), audit: false)
        }
        call.sandboxID = grant.sandboxID
        do {
            var fields = RequestFields()
            if head.method == .POST {
                do { fields = try RequestFields.scan(body.readableBytesView) } catch {
                    throw FacadeRefusal(.badRequest, "the request body must be a JSON object")
                }
            }
            call.model = fields.model ?? ""
            guard let upstream = proxy.endpoints[route.provider] else {
                throw FacadeRefusal(.providerNotConfigured, "the Warren daemon holds no \(route.provider.rawValue) key")
            }
            meter = UsageMeter(provider: route.provider, streaming: fields.stream)
            if try proxy.accounts.admitLoaded(grant, provider: route.provider, model: fields.model, metered: route.metered) {
                try admitted(grant, upstream)
                return
            }
            // The sandbox's first call since the daemon started: its spend comes from the store.
            let (accounts, provider, model, metered) = (proxy.accounts, route.provider, fields.model, route.metered)
            let exchange = NIOLoopBound(self, eventLoop: eventLoop)
            eventLoop.makeFutureWithTask {
                try await accounts.admit(grant, provider: provider, model: model, metered: metered)
            }.whenComplete { result in
                do {
                    try result.get()
                    try exchange.value.admitted(grant, upstream)
                } catch {
                    exchange.value.refuse(error)
                }
            }
        } catch {
            refuse(error)
        }
    }

    private func admitted(_ grant: LLMGrant, _ upstream: (endpoint: UpstreamEndpoint, key: String)) throws {
        guard case .admitting = phase else { return }
        try proxy.rate.admit(grant.sandboxID, limit: grant.requestsPerMinute)
        target = upstream
        connect(fresh: false)
    }

    private func connect(fresh: Bool) {
        guard let target else { return }
        let exchange = NIOLoopBound(self, eventLoop: eventLoop)
        proxy.connections.checkout(target.endpoint, on: eventLoop, fresh: fresh).whenComplete { result in
            switch result {
            case .success(let (channel, reused)): exchange.value.send(on: channel, target, reused: reused)
            case .failure(let error): exchange.value.unreachable(error)
            }
        }
    }

    // MARK: - Upstream

    private func send(on channel: any Channel, _ upstream: (endpoint: UpstreamEndpoint, key: String), reused: Bool) {
        guard case .admitting = phase, downstream != nil else {
            // The client left while the connection was made: keep it for the next call.
            proxy.connections.checkin(channel, endpoint: upstream.endpoint)
            return
        }
        guard let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamHandler.self) else {
            channel.close(promise: nil)
            return unreachable(UpstreamError.closedEarly)
        }
        handler.exchange = self
        phase = .sending(channel, upstream.endpoint)
        mayResend = reused && !resent
        let outgoing = FacadeProxy.upstreamHead(head, route: route, endpoint: upstream.endpoint, key: upstream.key,
                                                bodyLength: head.method == .POST ? body.readableBytes : nil)
        channel.write(HTTPClientRequestPart.head(outgoing), promise: nil)
        if head.method == .POST { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    /// A part of the upstream's answer.
    func upstream(_ part: HTTPClientResponsePart) {
        switch (part, phase) {
        case (.head(let answer), .sending(let channel, let endpoint)):
            call.status = Int(answer.status.code)
            metered = route.metered && (200..<300).contains(call.status)
            let isEventStream = answer.headers.first(name: "content-type")?.hasPrefix("text/event-stream") ?? false
            if isEventStream, meter?.streaming == false { meter = UsageMeter(provider: route.provider, streaming: true) }
            phase = .relaying(channel, endpoint, reusable: answer.isKeepAlive)
            downstream?.respond(head: FacadeProxy.downstreamHead(answer, version: head.version))
        case (.body(let buffer), .relaying(let channel, _, _)):
            meter?.feed(buffer.readableBytesView)
            if downstream?.respond(body: buffer) == false, !paused {
                paused = true
                channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
            }
        case (.end, .relaying(let channel, let endpoint, let reusable)):
            phase = .done
            release(channel, endpoint: endpoint, reusable: reusable)
            finish()
            downstream?.respondEnd()
        default:
            // Out of step (an answer before the request was sent, a second head): drop it.
            if case .sending(let channel, _) = phase { channel.close(promise: nil) }
            if case .relaying(let channel, _, _) = phase { channel.close(promise: nil) }
        }
    }

    /// The upstream connection failed or closed before the answer ended.
    func upstreamFailed(_ error: any Error, timedOut: Bool) {
        switch phase {
        case .sending(let channel, _):
            phase = .admitting
            detach(channel)
            channel.close(promise: nil)
            guard mayResend, !timedOut else { return unreachable(error) }
            resent = true
            connect(fresh: true)
        case .relaying(let channel, _, _):
            phase = .done
            detach(channel)
            proxy.logger.warning("LLM upstream broke off an answer", metadata: [
                "provider": "\(route.provider.rawValue)", "timeout": "\(timedOut)", "error": "\(error)"])
            finish()
            downstream?.abort()
        case .admitting, .done:
            break
        }
    }

    /// The client can take more of the answer.
    func resume() {
        guard paused, case .relaying(let channel, _, _) = phase else { return }
        paused = false
        channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        channel.read()
    }

    /// The client went away: an upstream connection in use is closed, never reused mid-answer.
    func cancel() {
        switch phase {
        case .sending(let channel, _), .relaying(let channel, _, _):
            phase = .done
            detach(channel)
            channel.close(promise: nil)
            finish()
        case .admitting, .done:
            phase = .done
        }
    }

    // MARK: - Endings

    private func release(_ channel: any Channel, endpoint: UpstreamEndpoint, reusable: Bool) {
        detach(channel)
        if paused { channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in } }
        if reusable {
            proxy.connections.checkin(channel, endpoint: endpoint)
        } else {
            channel.close(promise: nil)
        }
    }

    private func detach(_ channel: any Channel) {
        if let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamHandler.self), handler.exchange === self {
            handler.exchange = nil
        }
    }

    private func unreachable(_ error: any Error) {
        proxy.logger.warning("LLM upstream unreachable", metadata: ["provider": "\(route.provider.rawValue)", "error": "\(error)"])
        refuse(FacadeRefusal(.upstreamUnavailable, "the \(route.provider.rawValue) upstream cannot be reached"))
    }

    /// Answers with the facade's own refusal. Calls of a known sandbox are audited; calls
    /// without a valid token are not (they belong to no sandbox).
    private func refuse(_ error: any Error, audit: Bool = true) {
        let refusal = error as? FacadeRefusal ?? FacadeRefusal(.badRequest, "\(error)")
        phase = .done
        if audit && !call.sandboxID.isEmpty {
            call.status = refusal.status
            call.latencyMs = Self.milliseconds(since: started)
            proxy.accounts.record(call, metered: false)
        }
        downstream?.respond(refusal: refusal, route.provider, version: head.version)
    }

    /// Records the call: the model the provider named, the tokens it counted, the time taken.
    private func finish() {
        guard !call.sandboxID.isEmpty else { return }
        if var meter {
            meter.finish()
            if let model = meter.model { call.model = model }
            call.inputTokens = meter.usage?.inputTokens ?? 0
            call.outputTokens = meter.usage?.outputTokens ?? 0
        }
        call.latencyMs = Self.milliseconds(since: started)
        proxy.accounts.record(call, metered: metered)
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
    }
}
