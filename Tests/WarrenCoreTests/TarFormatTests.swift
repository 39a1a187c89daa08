import Testing
import WarrenCore

@Suite("The tar format of image transfers")
struct TarFormatTests {
    @Test("headers read back as written, long names split into the prefix")
    func roundTrip() throws {
        for name in ["oci-layout", "blobs/sha256/" + String(repeating: "a", count: 64), String(repeating: "d", count: 120) + "/" + String(repeating: "f", count: 90)] {
            let h = TarFormat.Header(name: name, size: 12345, mode: 0o644, type: .file)
            let block = try TarFormat.header(h)
            #expect(block.count == 512)
            #expect(try TarFormat.parse(block[...]) == h)
        }
        #expect(try TarFormat.parse([UInt8](repeating: 0, count: 512)[...]) == nil)
        #expect(TarFormat.padding(512).isEmpty && TarFormat.padding(1).count == 511)
    }

    @Test("entries that leave the root, other types and bad checksums are refused")
    func refusals() throws {
        for name in ["../etc/passwd", "/abs", "a/../../b"] {
            let block = try TarFormat.header(.init(name: name, size: 0, mode: 0o644, type: .file))
            #expect(throws: WarrenError.self, "\(name)") { _ = try TarFormat.parse(block[...]) }
        }
        var link = try TarFormat.header(.init(name: "l", size: 0, mode: 0o777, type: .file))
        link[156] = UInt8(ascii: "2")
        #expect(throws: WarrenError.self) { _ = try TarFormat.parse(link[...]) }
        var corrupt = try TarFormat.header(.init(name: "x", size: 1, mode: 0o644, type: .file))
        corrupt[0] = UInt8(ascii: "y")
        #expect(throws: WarrenError.self) { _ = try TarFormat.parse(corrupt[...]) }
        #expect(throws: WarrenError.self) { _ = try TarFormat.header(.init(name: String(repeating: "x", count: 300), size: 0, mode: 0, type: .file)) }
    }
}
