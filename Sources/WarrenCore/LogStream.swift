import Foundation

/// Output streams a sandbox writes.
public enum LogStream: UInt8, Sendable, Codable {
    case stdout = 1
    case stderr = 2

    public var name: String { self == .stdout ? "stdout" : "stderr" }
}

/// The on-disk log format the sandbox helper writes and the daemon reads.
///
/// Each record is a 16-byte header — stream (1 byte), 3 reserved, payload length
/// (UInt32 big-endian), wall time in nanoseconds since 1970 (UInt64 big-endian) —
/// followed by the payload. Appending never rewrites earlier records, so a reader
/// can follow the file while the helper writes.
///
/// A sandbox's log is capped: once the file would pass half the cap, it is renamed to
/// `output.log.1` (replacing the one before) and a new file is begun, as Docker's
/// `max-size`/`max-file=2` do. A reader follows the renamed file to its end, then the new one.
/// Each file begins with a generation record (stream byte 0xFF, an 8-byte big-endian count
/// from 1), so a reader that fell more than a file behind knows it, and says so.
public enum LogRecord {
    public static let headerSize = 16

    /// The marker a reader gets where output was rotated away before it could be read.
    public static let rotatedAwayMarker = Array("[warren: earlier output was rotated away: the sandbox's log keeps only its last --log-max bytes]\n".utf8)

    public static func encode(stream: LogStream, payload: some Collection<UInt8>, timeNanos: UInt64) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(headerSize + payload.count)
        out.append(stream.rawValue)
        out.append(contentsOf: [0, 0, 0])
        let len = UInt32(payload.count)
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8((len >> UInt32(shift)) & 0xff)) }
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((timeNanos >> UInt64(shift)) & 0xff)) }
        out.append(contentsOf: payload)
        return out
    }

    public struct Decoded: Sendable, Equatable {
        public var stream: LogStream
        public var timeNanos: UInt64
        public var payload: [UInt8]
        public var date: Date { Date(timeIntervalSince1970: Double(timeNanos) / 1e9) }

        public init(stream: LogStream, timeNanos: UInt64, payload: [UInt8]) {
            self.stream = stream; self.timeNanos = timeNanos; self.payload = payload
        }
    }

    /// The stream byte of a file's generation record.
    public static let generationStream: UInt8 = 0xFF

    /// The record a log file begins with: its generation.
    public static func encodeGeneration(_ generation: UInt64, timeNanos: UInt64) -> [UInt8] {
        var out = encode(stream: .stdout, payload: (0..<8).map { UInt8((generation >> UInt64(56 - 8 * $0)) & 0xff) }, timeNanos: timeNanos)
        out[0] = generationStream
        return out
    }

    /// One frame of a log file: output, or the file's generation.
    public enum Frame: Sendable, Equatable {
        case output(Decoded)
        case generation(UInt64)
    }

    /// Decodes whole frames from `buffer` starting at `offset`; returns them and the
    /// offset just past the last whole one (a partial tail is left for later).
    public static func decodeFrames(_ buffer: [UInt8], from offset: Int = 0) -> (frames: [Frame], next: Int) {
        var frames: [Frame] = []
        var i = offset
        while buffer.count - i >= headerSize {
            let len = Int(buffer[i + 4]) << 24 | Int(buffer[i + 5]) << 16 | Int(buffer[i + 6]) << 8 | Int(buffer[i + 7])
            guard buffer.count - i - headerSize >= len else { break }
            var t: UInt64 = 0
            for k in 0..<8 { t = t << 8 | UInt64(buffer[i + 8 + k]) }
            let payload = Array(buffer[(i + headerSize)..<(i + headerSize + len)])
            if buffer[i] == generationStream {
                frames.append(.generation(payload.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }))
            } else {
                frames.append(.output(Decoded(stream: LogStream(rawValue: buffer[i]) ?? .stdout, timeNanos: t, payload: payload)))
            }
            i += headerSize + len
        }
        return (frames, i)
    }

    /// The output records of `buffer` (generation records left out).
    public static func decode(_ buffer: [UInt8], from offset: Int = 0) -> (records: [Decoded], next: Int) {
        let (frames, next) = decodeFrames(buffer, from: offset)
        return (frames.compactMap { if case .output(let d) = $0 { d } else { nil } }, next)
    }
}
