import DockerDriver
import Testing
import WarrenCore

@Suite("Docker stream decoding")
struct DockerStreamDecodingTests {
    static func frame(_ stream: UInt8, _ text: String) -> [UInt8] {
        let payload = Array(text.utf8)
        let n = UInt32(payload.count)
        return [stream, 0, 0, 0, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + payload
    }

    @Test("frames are split by stream, also when cut across reads at any byte")
    func demultiplex() {
        let bytes = Self.frame(1, "out one\n") + Self.frame(2, "err\n") + Self.frame(1, "") + Self.frame(1, "out two")
        for cut in 0...bytes.count {
            var demux = DockerStreamDemultiplexer()
            let frames = demux.feed(bytes[..<cut]) + demux.feed(bytes[cut...])
            #expect(frames.map(\.0) == [.stdout, .stderr, .stdout, .stdout], "cut at \(cut)")
            #expect(frames.map { String(decoding: $0.1, as: UTF8.self) } == ["out one\n", "err\n", "", "out two"])
            #expect(demux.leftover == 0)
        }
        var partial = DockerStreamDemultiplexer()
        #expect(partial.feed(Self.frame(1, "hello").dropLast(2)).isEmpty)
        #expect(partial.leftover == 11)
    }

    @Test("timestamps parse to nanoseconds; anything else is refused")
    func timestamps() {
        #expect(DockerLogDecoder.parseTimestamp(Array("1970-01-01T00:00:01Z".utf8)) == 1_000_000_000)
        #expect(DockerLogDecoder.parseTimestamp(Array("2026-11-21T08:18:09.883726170Z".utf8)) == 1_795_249_089_883_726_170)
        #expect(DockerLogDecoder.parseTimestamp(Array("2026-11-21T08:18:09.5Z".utf8)) == 1_795_249_089_500_000_000)
        #expect(DockerLogDecoder.parseTimestamp(Array("2026-11-21 08:18:09Z".utf8)) == nil)
        #expect(DockerLogDecoder.parseTimestamp(Array("2026-11-21T08:18:09+01:00".utf8)) == nil)
        #expect(DockerLogDecoder.parseTimestamp(Array("hello".utf8)) == nil)
    }

    @Test("log records: the time prefix is taken off, multiplexed and raw (terminal) alike")
    func logRecords() {
        var multiplexed = DockerLogDecoder(multiplexed: true)
        let bytes = Self.frame(1, "2026-11-21T08:18:09.000000001Z one\n") + Self.frame(2, "2026-11-21T08:18:10Z two\n")
        let records = multiplexed.feed(bytes[..<20]) + multiplexed.feed(bytes[20...])
        #expect(records.map(\.stream) == [.stdout, .stderr])
        #expect(records.map { String(decoding: $0.payload, as: UTF8.self) } == ["one\n", "two\n"])
        #expect(records[0].timeNanos == 1_795_249_089_000_000_001)

        var raw = DockerLogDecoder(multiplexed: false)
        let text = Array("2026-11-21T08:18:09Z a\r\n2026-11-21T08:18:11Z b".utf8)
        var lines = raw.feed(text[..<5]) + raw.feed(text[5...])
        #expect(lines.map { String(decoding: $0.payload, as: UTF8.self) } == ["a\r\n"])
        lines += raw.finish()
        #expect(lines.map { String(decoding: $0.payload, as: UTF8.self) } == ["a\r\n", "b"])
        #expect(lines.allSatisfy { $0.stream == .stdout })
    }
}
