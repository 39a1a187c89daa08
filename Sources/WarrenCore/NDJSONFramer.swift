/// Splits a byte stream into newline-terminated lines, skipping blank ones, in time
/// linear in the input: each byte is looked at once, and consumed bytes are dropped in
/// bulk, never one line at a time from the front of the buffer.
public struct NDJSONFramer: Sendable {
    public let maxLine: Int
    private var buffer: [UInt8] = []
    /// Where the unread part of `buffer` starts.
    private var start = 0
    /// How far `buffer` has been searched for a newline.
    private var scanned = 0
    /// Bytes looked at so far (for tests: stays within a small multiple of the input).
    public private(set) var bytesExamined = 0

    public init(maxLine: Int) { self.maxLine = maxLine }

    public mutating func append(_ bytes: some Collection<UInt8>) {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            scanned -= start
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next line that is not blank (whitespace only); at the end of input, the last
    /// unterminated one. Nil when more input is needed.
    public mutating func nextLine(atEnd: Bool = false) throws -> [UInt8]? {
        while true {
            var i = scanned
            while i < buffer.count && buffer[i] != UInt8(ascii: "\n") { i += 1 }
            bytesExamined += i - scanned
            scanned = i
            if i < buffer.count {
                let line = buffer[start..<i]
                start = i + 1
                scanned = start
                bytesExamined += line.count
                if line.contains(where: { $0 > 0x20 }) { return Array(line) }
                continue
            }
            guard buffer.count - start <= maxLine else {
                throw WarrenError(.invalidArgument, "request line longer than \(maxLine) bytes")
            }
            guard atEnd else { return nil }
            let rest = buffer[start...]
            start = buffer.count
            scanned = start
            return rest.contains(where: { $0 > 0x20 }) ? Array(rest) : nil
        }
    }
}
