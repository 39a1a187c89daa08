#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
@testable import NativeDriver
import Testing
import WarrenCore

/// A capped log read while it rotates: nothing still on disk is skipped, and a reader
/// that fell more than a file behind is told.
@Suite("Reading a rotating log")
struct LogFileReaderTests {
    func file(_ generation: UInt64, _ lines: [String]) -> [UInt8] {
        LogRecord.encodeGeneration(generation, timeNanos: 0)
            + lines.flatMap { LogRecord.encode(stream: .stdout, payload: Array(($0 + "\n").utf8), timeNanos: 1) }
    }

    func texts(_ reader: LogFileReader) async throws -> [String] {
        var out: [String] = []
        while let r = try await reader.next() { out.append(String(decoding: r.payload, as: UTF8.self)) }
        return out
    }

    @Test("after two rotations while the reader held the first file, the middle one is still read, in order")
    func twoRotations() async throws {
        let dir = NSTemporaryDirectory() + "warren-logread-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? removeTree(dir) }
        let path = dir + "/output.log", rotated = dir + "/output.log.1"
        try Data(file(1, ["a1", "a2"])).write(to: URL(fileURLWithPath: path))
        let reader = LogFileReader(path: path, rotatedPath: rotated, follow: true, finished: { false })
        #expect(String(decoding: try #require(try await reader.next()).payload, as: UTF8.self) == "a1\n")
        // Two rotations before the reader looks again: A is gone, B is the rotated file.
        try FileManager.default.removeItem(atPath: path)
        try Data(file(2, ["b1"])).write(to: URL(fileURLWithPath: rotated))
        try Data(file(3, ["c1"])).write(to: URL(fileURLWithPath: path))
        let ended = LogFileReader(path: path, rotatedPath: rotated, follow: false, finished: { true })
        #expect(try await texts(ended) == ["b1\n", "c1\n"], "a new reader reads the rotated file, then the current one")
        var rest: [String] = []
        for _ in 0..<3 { rest.append(String(decoding: try #require(try await reader.next()).payload, as: UTF8.self)) }
        #expect(rest == ["a2\n", "b1\n", "c1\n"])
    }

    @Test("a file that went by unread is said to be missing")
    func generationGap() async throws {
        let dir = NSTemporaryDirectory() + "warren-logread-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? removeTree(dir) }
        let path = dir + "/output.log", rotated = dir + "/output.log.1"
        try Data(file(1, ["a1"])).write(to: URL(fileURLWithPath: path))
        let reader = LogFileReader(path: path, rotatedPath: rotated, follow: true, finished: { false })
        #expect(String(decoding: try #require(try await reader.next()).payload, as: UTF8.self) == "a1\n")
        try FileManager.default.removeItem(atPath: path)
        try Data(file(3, ["c1"])).write(to: URL(fileURLWithPath: rotated))
        try Data(file(4, ["d1"])).write(to: URL(fileURLWithPath: path))
        let next = String(decoding: try #require(try await reader.next()).payload, as: UTF8.self)
        #expect(next.contains("rotated away"), "\(next)")
        #expect(String(decoding: try #require(try await reader.next()).payload, as: UTF8.self) == "c1\n")
        #expect(String(decoding: try #require(try await reader.next()).payload, as: UTF8.self) == "d1\n")
    }
}
