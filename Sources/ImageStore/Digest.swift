import Crypto
import WarrenCore

/// A content digest, `sha256:<64 lowercase hex>`: the only algorithm images use here.
public struct Digest: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let hex: String

    public init(parsing text: String) throws {
        guard text.hasPrefix("sha256:") else {
            throw WarrenError(.invalidArgument, "digest '\(text)' is not sha256:<hex>")
        }
        let hex = String(text.dropFirst(7))
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
            throw WarrenError(.invalidArgument, "digest '\(text)' must have 64 lowercase hex digits")
        }
        self.hex = hex
    }

    init(hex: String) { self.hex = hex }

    /// The digest of `bytes`.
    public static func of<Bytes: Sequence>(_ bytes: Bytes) -> Digest where Bytes.Element == UInt8 {
        var h = Hasher256()
        h.update(Array(bytes))
        return h.finalize()
    }

    public var description: String { "sha256:" + hex }
    /// The first 12 hex digits, as `images` shows ids.
    public var short: String { String(hex.prefix(12)) }

    public static func < (a: Digest, b: Digest) -> Bool { a.hex < b.hex }

    public init(from decoder: any Decoder) throws {
        try self.init(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// Streaming SHA-256, for blobs hashed while they are written.
public struct Hasher256: Sendable {
    private var inner = SHA256()
    public init() {}
    public mutating func update(_ bytes: UnsafeRawBufferPointer) { inner.update(bufferPointer: bytes) }
    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { inner.update(bufferPointer: $0) } }
    public func finalize() -> Digest {
        Digest(hex: inner.finalize().map { String($0, radix: 16).leftPadded(2) }.joined())
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
