import Foundation

/// Rows and columns of a terminal.
public struct TerminalSize: Codable, Sendable, Equatable {
    public var rows: UInt16
    public var cols: UInt16
    public init(rows: UInt16, cols: UInt16) { self.rows = rows; self.cols = cols }
}

/// One message an attached client sends (NDJSON on the wire, after the response began):
/// input bytes, end of input, a new window size, or a signal for the process.
public struct AttachInput: Codable, Sendable, Equatable {
    /// Base64 bytes for the process's stdin.
    public var stdin: String?
    /// The client has no more input: the process's stdin is closed (pipes only; a
    /// terminal stays open until the client leaves).
    public var eof: Bool?
    public var resize: TerminalSize?
    public var signal: Int32?

    public init(stdin: String? = nil, eof: Bool? = nil, resize: TerminalSize? = nil, signal: Int32? = nil) {
        self.stdin = stdin; self.eof = eof; self.resize = resize; self.signal = signal
    }

    public static func input(_ bytes: [UInt8]) -> AttachInput { AttachInput(stdin: Data(bytes).base64EncodedString()) }
    public static let endOfInput = AttachInput(eof: true)

    public var stdinBytes: [UInt8]? { stdin.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } }
}

/// Body of `POST /v1/sandboxes/{id}/kill`.
public struct KillRequest: Codable, Sendable, Equatable {
    public var signal: Int32
    public init(signal: Int32) { self.signal = signal }
}

/// The signals a client may send to a sandbox: the ones a terminal or a supervisor
/// would, and KILL.
public enum SandboxSignals {
    public static let allowed: Set<Int32> = [1, 2, 3, 9, 10, 12, 15, 28]  // HUP INT QUIT KILL USR1 USR2 TERM WINCH

    public static func validate(_ signal: Int32) throws {
        guard allowed.contains(signal) else {
            throw WarrenError(.invalidArgument, "signal \(signal) cannot be sent to a sandbox (allowed: HUP INT QUIT KILL USR1 USR2 TERM WINCH)")
        }
    }
}

/// Frames between the daemon and a sandbox's monitor on `<bundle>/attach.sock`:
/// one type byte, a 4-byte big-endian length, then the payload.
public enum AttachFrame: Equatable, Sendable {
    case input([UInt8])
    case endOfInput
    case resize(TerminalSize)

    public func encoded() -> [UInt8] {
        let (type, payload): (UInt8, [UInt8]) = switch self {
        case .input(let bytes): (UInt8(ascii: "d"), bytes)
        case .endOfInput: (UInt8(ascii: "e"), [])
        case .resize(let s): (UInt8(ascii: "w"), [UInt8(s.rows >> 8), UInt8(s.rows & 0xff), UInt8(s.cols >> 8), UInt8(s.cols & 0xff)])
        }
        let n = UInt32(payload.count)
        return [type, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + payload
    }

    /// Decodes every complete frame at the start of `buffer`; returns them and how many
    /// bytes they used. Unknown frame types are skipped.
    public static func decode(_ buffer: [UInt8]) -> (frames: [AttachFrame], consumed: Int) {
        var frames: [AttachFrame] = []
        var at = 0
        while buffer.count - at >= 5 {
            let n = Int(buffer[at + 1]) << 24 | Int(buffer[at + 2]) << 16 | Int(buffer[at + 3]) << 8 | Int(buffer[at + 4])
            guard buffer.count - at - 5 >= n else { break }
            let payload = Array(buffer[(at + 5)..<(at + 5 + n)])
            switch buffer[at] {
            case UInt8(ascii: "d"): frames.append(.input(payload))
            case UInt8(ascii: "e"): frames.append(.endOfInput)
            case UInt8(ascii: "w") where n == 4:
                frames.append(.resize(TerminalSize(rows: UInt16(payload[0]) << 8 | UInt16(payload[1]),
                                                   cols: UInt16(payload[2]) << 8 | UInt16(payload[3]))))
            default: break
            }
            at += 5 + n
        }
        return (frames, at)
    }
}
