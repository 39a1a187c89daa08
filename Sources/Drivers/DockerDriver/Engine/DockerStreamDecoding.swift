#if canImport(Glibc)
import Glibc
#endif
import WarrenCore

/// Splits Docker's multiplexed stream (attach, exec and logs of a container without a
/// terminal) into its frames: one byte naming the stream (0 stdin, 1 stdout, 2
/// stderr), three zero bytes, a big-endian UInt32 length, then the payload.
///
/// Feed bytes as they arrive; a frame cut across reads is completed by the next one.
public struct DockerStreamDemultiplexer: Sendable {
    var pending: [UInt8] = []

    public init() {}

    public mutating func feed(_ bytes: some Collection<UInt8>) -> [(LogStream, [UInt8])] {
        pending.append(contentsOf: bytes)
        var frames: [(LogStream, [UInt8])] = []
        var at = 0
        while pending.count - at >= 8 {
            let length = Int(pending[at + 4]) << 24 | Int(pending[at + 5]) << 16 | Int(pending[at + 6]) << 8 | Int(pending[at + 7])
            guard pending.count - at - 8 >= length else { break }
            let stream: LogStream = pending[at] == 2 ? .stderr : .stdout
            frames.append((stream, Array(pending[(at + 8)..<(at + 8 + length)])))
            at += 8 + length
        }
        pending.removeFirst(at)
        return frames
    }

    /// Bytes of an unfinished frame left at the end of the stream.
    public var leftover: Int { pending.count }
}

/// Turns `GET /containers/{id}/logs?timestamps=1` output into log records.
///
/// Every line Docker logged is prefixed with its RFC 3339 time and a space. Without a
/// terminal each frame holds one (possibly partial) line; with one the stream is raw
/// and split here at newlines.
public struct DockerLogDecoder: Sendable {
    let multiplexed: Bool
    var demux = DockerStreamDemultiplexer()
    var rawLine: [UInt8] = []

    public init(multiplexed: Bool) { self.multiplexed = multiplexed }

    public mutating func feed(_ bytes: some Collection<UInt8>) -> [LogRecord.Decoded] {
        if multiplexed {
            return demux.feed(bytes).map { Self.record($0.0, $0.1) }
        }
        var records: [LogRecord.Decoded] = []
        for b in bytes {
            rawLine.append(b)
            if b == UInt8(ascii: "\n") {
                records.append(Self.record(.stdout, rawLine))
                rawLine.removeAll(keepingCapacity: true)
            }
        }
        return records
    }

    /// What is left of a last line without a newline.
    public mutating func finish() -> [LogRecord.Decoded] {
        guard !multiplexed, !rawLine.isEmpty else { return [] }
        defer { rawLine = [] }
        return [Self.record(.stdout, rawLine)]
    }

    static func record(_ stream: LogStream, _ payload: [UInt8]) -> LogRecord.Decoded {
        if let space = payload.prefix(40).firstIndex(of: UInt8(ascii: " ")),
           let nanos = parseTimestamp(payload[..<space]) {
            return LogRecord.Decoded(stream: stream, timeNanos: nanos, payload: Array(payload[(space + 1)...]))
        }
        return LogRecord.Decoded(stream: stream, timeNanos: 0, payload: payload)
    }

    /// `2026-11-21T08:18:09.883726170Z` (fraction optional, UTC only) as nanoseconds since 1970.
    public static func parseTimestamp(_ text: some Collection<UInt8>) -> UInt64? {
        let t = Array(text)
        guard t.count >= 20, t[4] == UInt8(ascii: "-"), t[10] == UInt8(ascii: "T"), t.last == UInt8(ascii: "Z") else { return nil }
        func number(_ from: Int, _ count: Int) -> Int32? {
            var n: Int32 = 0
            for i in from..<(from + count) {
                guard t[i] >= 48, t[i] <= 57 else { return nil }
                n = n * 10 + Int32(t[i] - 48)
            }
            return n
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2) else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900; parts.tm_mon = month - 1; parts.tm_mday = day
        parts.tm_hour = hour; parts.tm_min = minute; parts.tm_sec = second
        let seconds = timegm(&parts)
        guard seconds >= 0 else { return nil }
        var fraction: UInt64 = 0
        if t[19] == UInt8(ascii: ".") {
            var digits = 0
            for b in t[20..<(t.count - 1)] {
                guard b >= 48, b <= 57 else { return nil }
                if digits < 9 { fraction = fraction * 10 + UInt64(b - 48); digits += 1 }
            }
            while digits < 9 { fraction *= 10; digits += 1 }
        }
        return UInt64(seconds) * 1_000_000_000 + fraction
    }
}
