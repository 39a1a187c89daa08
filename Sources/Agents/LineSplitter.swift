/// Cuts a byte stream into lines. A line longer than `maxLine` is cut there (the rest of
/// it is dropped and the line marked), so no output can grow the daemon's memory.
public struct LineSplitter: Sendable {
    public let maxLine: Int
    private var pending: [UInt8] = []
    private var overlong = false

    public init(maxLine: Int = 1 << 20) { self.maxLine = maxLine }

    /// The whole lines `bytes` completes, without their newline.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [String] {
        var lines: [String] = []
        for b in bytes {
            if b == UInt8(ascii: "\n") {
                lines.append(String(decoding: pending, as: UTF8.self) + (overlong ? "…" : ""))
                pending.removeAll(keepingCapacity: true)
                overlong = false
            } else if pending.count < maxLine {
                pending.append(b)
            } else {
                overlong = true
            }
        }
        return lines
    }
}
