import NIOCore
import WarrenCore

/// The SOCKS5 side of the egress proxy (RFC 1928): no authentication, `CONNECT` only,
/// with a name (`socks5h://`, resolved by the proxy) or an address as the target.
enum SOCKS5 {
    static let version: UInt8 = 5
    /// The longest greeting plus request: 2 + 255 methods, 4 + 1 + 255 name bytes + 2.
    static let maxBytes = 520

    enum Parse: Equatable {
        case incomplete
        case invalid(reply: UInt8?, why: String)
        /// The client's methods and the bytes the greeting took.
        case greeting(methods: [UInt8], length: Int)
        /// The target and the bytes the request took.
        case connect(host: String, port: Int, length: Int)
    }

    /// Parses the client's greeting at the start of `bytes`.
    static func greeting(_ bytes: [UInt8]) -> Parse {
        guard bytes.count >= 2 else { return .incomplete }
        guard bytes[0] == version else { return .invalid(reply: nil, why: "not SOCKS version 5") }
        let count = Int(bytes[1])
        guard count > 0 else { return .invalid(reply: nil, why: "no authentication methods offered") }
        guard bytes.count >= 2 + count else { return .incomplete }
        return .greeting(methods: Array(bytes[2..<(2 + count)]), length: 2 + count)
    }

    /// Parses a request at the start of `bytes`.
    static func request(_ bytes: [UInt8]) -> Parse {
        guard bytes.count >= 5 else { return .incomplete }
        guard bytes[0] == version, bytes[2] == 0 else { return .invalid(reply: 1, why: "a malformed SOCKS request") }
        guard bytes[1] == 1 else { return .invalid(reply: 7, why: "only SOCKS CONNECT is supported") }
        let host: String, start: Int
        switch bytes[3] {
        case 1:
            guard bytes.count >= 10 else { return .incomplete }
            host = IPAddress(bytes: Array(bytes[4..<8]))!.description
            start = 8
        case 3:
            let length = Int(bytes[4])
            guard length > 0 else { return .invalid(reply: 1, why: "an empty SOCKS host name") }
            guard bytes.count >= 5 + length + 2 else { return .incomplete }
            guard let name = String(validating: bytes[5..<(5 + length)], as: UTF8.self),
                  name.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "/" && $0 != "@" }) else {
                return .invalid(reply: 1, why: "a SOCKS host name that is not a name")
            }
            host = name.lowercased()
            start = 5 + length
        case 4:
            guard bytes.count >= 22 else { return .incomplete }
            host = IPAddress(bytes: Array(bytes[4..<20]))!.description
            start = 20
        default:
            return .invalid(reply: 8, why: "an unknown SOCKS address type")
        }
        let port = Int(bytes[start]) << 8 | Int(bytes[start + 1])
        guard port > 0 else { return .invalid(reply: 1, why: "port 0") }
        return .connect(host: host, port: port, length: start + 2)
    }

    /// A reply with `code` and an unspecified bound address.
    static func reply(_ code: UInt8) -> [UInt8] { [version, code, 0, 1, 0, 0, 0, 0, 0, 0] }

    /// Runs the greeting and the request; the target and the bytes after it, or nil once
    /// the client was answered with a refusal (or left).
    static func handshake(_ opening: [UInt8], _ requests: inout EgressProxy.Requests,
                          _ outbound: EgressProxy.Writer) async throws -> (String, Int, [UInt8])? {
        var bytes = opening
        var greeted = false
        while true {
            let parse = greeted ? request(bytes) : greeting(bytes)
            switch parse {
            case .incomplete:
                guard bytes.count < maxBytes, let buffer = try await requests.next() else { return nil }
                bytes += buffer.readableBytesView
            case .invalid(let code, _):
                if let code { try await outbound.write(ByteBuffer(bytes: reply(code))) }
                return nil
            case .greeting(let methods, let length):
                guard methods.contains(0) else {
                    try await outbound.write(ByteBuffer(bytes: [version, 0xFF]))
                    return nil
                }
                try await outbound.write(ByteBuffer(bytes: [version, 0]))
                bytes.removeFirst(length)
                greeted = true
            case .connect(let host, let port, let length):
                return (host, port, Array(bytes[length...]))
            }
        }
    }
}
