/// The two members of a request body the facade acts on, `model` and `stream`, read by
/// one pass over the top-level JSON object without building the rest of it: a prompt of
/// megabytes costs a scan, not a tree of objects. The upstream still parses it in full.
public struct RequestFields: Sendable, Equatable {
    public var model: String?
    public var stream: Bool

    public init(model: String? = nil, stream: Bool = false) {
        self.model = model
        self.stream = stream
    }

    struct Malformed: Error {}

    /// Reads `model` (a string) and `stream` (a boolean) from a JSON object; other types
    /// of either count as absent, as the old full parse did. Throws on anything that is not
    /// one well-formed JSON object.
    public static func scan(_ bytes: some Collection<UInt8>) throws -> RequestFields {
        if let fields = try bytes.withContiguousStorageIfAvailable({ try scan(buffer: $0) }) { return fields }
        return try Array(bytes).withUnsafeBufferPointer { try scan(buffer: $0) }
    }

    static func scan(buffer: UnsafeBufferPointer<UInt8>) throws -> RequestFields {
        var reader = JSONScanner(bytes: buffer)
        var fields = RequestFields()
        try reader.expect(UInt8(ascii: "{"))
        if try !reader.take(UInt8(ascii: "}")) {
            repeat {
                let key = try reader.string()
                try reader.expect(UInt8(ascii: ":"))
                switch key {
                case "model" where reader.peek() == UInt8(ascii: "\""): fields.model = try reader.string()
                case "stream" where reader.peek() == UInt8(ascii: "t"): try reader.literal("true"); fields.stream = true
                case "stream" where reader.peek() == UInt8(ascii: "f"): try reader.literal("false"); fields.stream = false
                default: try reader.skipValue(depth: 0)
                }
            } while try reader.take(UInt8(ascii: ","))
            try reader.expect(UInt8(ascii: "}"))
        }
        reader.skipSpace()
        guard reader.atEnd else { throw Malformed() }
        return fields
    }
}

/// A cursor over JSON text that checks structure and decodes only the strings asked for.
struct JSONScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    static let maxDepth = 512

    var atEnd: Bool { index == bytes.count }

    mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func peek() -> UInt8? {
        skipSpace()
        return index < bytes.count ? bytes[index] : nil
    }

    /// Consumes `byte` if it is next.
    mutating func take(_ byte: UInt8) throws -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }

    mutating func expect(_ byte: UInt8) throws {
        guard try take(byte) else { throw RequestFields.Malformed() }
    }

    mutating func literal(_ word: StaticString) throws {
        skipSpace()
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw RequestFields.Malformed() }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { throw RequestFields.Malformed() }
        index += count
    }

    /// A string, decoded (escapes included).
    mutating func string() throws -> String {
        try expect(UInt8(ascii: "\""))
        var utf8: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try unescape(into: &utf8)
            case 0..<0x20:
                throw RequestFields.Malformed()
            default:
                utf8.append(byte)
            }
        }
        throw RequestFields.Malformed()
    }

    private mutating func unescape(into utf8: inout [UInt8]) throws {
        guard index < bytes.count else { throw RequestFields.Malformed() }
        let escape = bytes[index]
        index += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var unit = try hex4()
            if (0xD800..<0xDC00).contains(unit), bytes.count - index >= 6,
               bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                index += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw RequestFields.Malformed() }
                unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            }
            utf8.append(contentsOf: String(Character(Unicode.Scalar(unit) ?? "\u{FFFD}")).utf8)
        default:
            throw RequestFields.Malformed()
        }
    }

    private mutating func hex4() throws -> UInt32 {
        guard bytes.count - index >= 4 else { throw RequestFields.Malformed() }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = Self.hexValue(bytes[index]) else { throw RequestFields.Malformed() }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// Steps over one value of any kind, checking its structure.
    mutating func skipValue(depth: Int) throws {
        guard depth < Self.maxDepth, let next = peek() else { throw RequestFields.Malformed() }
        switch next {
        case UInt8(ascii: "\""):
            try skipString()
        case UInt8(ascii: "{"):
            index += 1
            if try take(UInt8(ascii: "}")) { return }
            repeat {
                guard peek() == UInt8(ascii: "\"") else { throw RequestFields.Malformed() }
                try skipString()
                try expect(UInt8(ascii: ":"))
                try skipValue(depth: depth + 1)
            } while try take(UInt8(ascii: ","))
            try expect(UInt8(ascii: "}"))
        case UInt8(ascii: "["):
            index += 1
            if try take(UInt8(ascii: "]")) { return }
            repeat { try skipValue(depth: depth + 1) } while try take(UInt8(ascii: ","))
            try expect(UInt8(ascii: "]"))
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: try skipNumber()
        }
    }

    /// A string's extent, without decoding it.
    private mutating func skipString() throws {
        index += 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""): index += 1; return
            case UInt8(ascii: "\\"): index += 2
            case 0..<0x20: throw RequestFields.Malformed()
            default: index += 1
            }
        }
        throw RequestFields.Malformed()
    }

    private mutating func skipNumber() throws {
        let start = index
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        var digits = 0
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits += 1
            case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"), UInt8(ascii: "-"): break
            default: guard digits > 0, index > start else { throw RequestFields.Malformed() }; return
            }
            index += 1
        }
        guard digits > 0 else { throw RequestFields.Malformed() }
    }
}
