import NIOCore

/// Joins two channels byte for byte, both on one event loop: what one reads the other
/// writes, with back-pressure (a side whose peer cannot take more stops reading) and
/// half-closes passed on. Used for notebook WebSockets once both sides switched protocols,
/// so frames of any size, pings and closes go through untouched.
final class ByteSplice: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var context: ChannelHandlerContext?
    private var peer: ByteSplice?
    private var pendingRead = false

    /// Puts a splice at the end of each pipeline and links them. Call on their event loop.
    static func join(_ a: any Channel, _ b: any Channel) throws {
        let left = ByteSplice(), right = ByteSplice()
        left.peer = right
        right.peer = left
        try a.pipeline.syncOperations.addHandler(left)
        try b.pipeline.syncOperations.addHandler(right)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        peer = nil
    }

    // MARK: - What this side reads goes to the peer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        peer?.write(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        peer?.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            peer?.closeOutput()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        peer?.closeAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { peer?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: - Reading only while the peer can write

    func read(context: ChannelHandlerContext) {
        if let peer, !peer.isWritable {
            pendingRead = true
        } else {
            context.read()
        }
    }

    // MARK: - Called by the peer

    private var isWritable: Bool { context?.channel.isWritable ?? true }

    private func write(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func flush() { context?.flush() }

    private func resumeReading() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }

    private func closeOutput() {
        guard let context else { return }
        context.flush()
        context.close(mode: .output, promise: nil)
    }

    private func closeAll() {
        guard let context else { return }
        context.flush()
        context.close(promise: nil)
    }
}
