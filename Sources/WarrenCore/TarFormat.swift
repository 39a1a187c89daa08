/// The POSIX ustar format for the archives Warren streams itself (an OCI layout on
/// export or import): regular files and directories, names up to 255 bytes.
public enum TarFormat {
    public static let blockSize = 512

    public enum EntryType: UInt8, Sendable {
        case file = 48        // "0"
        case directory = 53   // "5"
    }

    public struct Header: Sendable, Equatable {
        public var name: String
        public var size: Int64
        public var mode: UInt32
        public var type: EntryType
        public init(name: String, size: Int64, mode: UInt32, type: EntryType) {
            self.name = name; self.size = size; self.mode = mode; self.type = type
        }
    }

    /// A 512-byte header block.
    public static func header(_ h: Header, mtime: Int64 = 0) throws -> [UInt8] {
        var block = [UInt8](repeating: 0, count: blockSize)
        var name = Array(h.name.utf8)
        var prefix: [UInt8] = []
        if name.count > 100 {
            guard let cut = name.prefix(156).lastIndex(of: UInt8(ascii: "/")), name.count - cut - 1 <= 100 else {
                throw WarrenError(.invalidArgument, "archive entry name \(h.name) is too long")
            }
            prefix = Array(name[..<cut])
            name = Array(name[(cut + 1)...])
        }
        func put(_ bytes: [UInt8], at offset: Int) { for (i, b) in bytes.enumerated() { block[offset + i] = b } }
        func octal(_ value: Int64, width: Int) -> [UInt8] {
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8) + [0]
        }
        put(name, at: 0)
        put(octal(Int64(h.mode), width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(h.size, width: 12), at: 124)
        put(octal(mtime, width: 12), at: 136)
        put([UInt8](repeating: UInt8(ascii: " "), count: 8), at: 148)
        block[156] = h.type.rawValue
        put(Array("ustar\u{0}00".utf8), at: 257)
        put(prefix, at: 345)
        let sum = block.reduce(0) { $0 + Int64($1) }
        put(octal(sum, width: 7) + [UInt8(ascii: " ")], at: 148)
        return block
    }

    /// Zeros after `size` bytes of data, up to the next block.
    public static func padding(_ size: Int64) -> [UInt8] {
        let rest = Int(size % Int64(blockSize))
        return rest == 0 ? [] : [UInt8](repeating: 0, count: blockSize - rest)
    }

    /// The two zero blocks that end an archive.
    public static let trailer = [UInt8](repeating: 0, count: 2 * blockSize)

    /// Reads a header block; nil for a zero block (the end). Names with `..` or a leading
    /// `/` are refused, and so is any entry that is not a file or a directory.
    public static func parse(_ block: ArraySlice<UInt8>) throws -> Header? {
        guard block.count == blockSize else { throw WarrenError(.invalidArgument, "truncated archive") }
        let b = Array(block)
        if b.allSatisfy({ $0 == 0 }) { return nil }
        func text(_ offset: Int, _ length: Int) -> String {
            String(decoding: b[offset..<(offset + length)].prefix { $0 != 0 }, as: UTF8.self)
        }
        func number(_ offset: Int, _ length: Int) -> Int64? {
            Int64(text(offset, length).trimmingCharacters(in: .whitespaces), radix: 8)
        }
        var stored = b
        for i in 148..<156 { stored[i] = UInt8(ascii: " ") }
        guard let sum = number(148, 8), sum == stored.reduce(0, { $0 + Int64($1) }) else {
            throw WarrenError(.invalidArgument, "archive header checksum does not match")
        }
        let prefix = text(345, 155)
        let name = (prefix.isEmpty ? "" : prefix + "/") + text(0, 100)
        guard let size = number(124, 12), size >= 0, let mode = number(100, 8) else {
            throw WarrenError(.invalidArgument, "archive header of \(name) is malformed")
        }
        let type: EntryType
        switch b[156] {
        case 0, EntryType.file.rawValue: type = .file
        case EntryType.directory.rawValue: type = .directory
        default: throw WarrenError(.invalidArgument, "archive entry \(name) is neither a file nor a directory")
        }
        let parts = name.split(separator: "/")
        guard !name.hasPrefix("/"), !parts.contains(".."), !parts.isEmpty else {
            throw WarrenError(.invalidArgument, "archive entry name \(name) leaves the archive's root")
        }
        return Header(name: name, size: size, mode: UInt32(mode & 0o7777), type: type)
    }
}

import Foundation
