import HTTPTypes
import Hummingbird
import HummingbirdCore
import LLMFacade
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
#if canImport(Glibc)
import Glibc
#endif

/// The Unix socket's connections: HTTP/1.1 from the daemon's own users only (checked by
/// peer credentials), with calls under `/llm` answered by the LLM facade on the
/// connection's event loop and every other request by the router.
///
/// NIO's pipelining helper keeps a connection to one request at a time, so answers from
/// the facade and from the router never interleave on a keep-alive connection.
struct DaemonSocketChannel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let allowedUIDs: Set<uid_t>
    let facade: FacadeProxy?
    let limits: ConnectionLimits
    /// Connections of refused uids, each uid up to `limits.unauthenticatedPerPeer`.
    let refusedPeers: PeerConnectionCounter

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: false,
                                                 withOutboundHeaderValidation: false)
            let decoder = try sync.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try sync.addHandler(ConnectionGuard(limits: limits, counter: nil), name: ConnectionGuard.name, position: .after(decoder))
            try sync.addHandler(PeerCredentialHandler(allowedUIDs: allowedUIDs, refusedPeers: refusedPeers, logger: logger))
            if let facade { try sync.addHandler(FacadeServerHandler(proxy: facade, listener: nil, prefix: "/llm")) }
            try sync.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try sync.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel,
                                       configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: value, logger: logger)
    }
}
