import Foundation
@testable import ImageStore
import LinuxSupport
import WarrenCore
import WarrenTestSupport

/// Layers written by Python's tarfile from entry lists (so hostile names are possible),
/// unpacked into a private directory.
final class LayerFixture: @unchecked Sendable {
    let dir: String
    private var counter = 0

    init() throws {
        dir = NSTemporaryDirectory() + "warren-layers-\(UUID().uuidString.prefix(8))"
        try makeDirectories(dir, mode: 0o755)
    }

    static var script: String { TestRootfs.packageRoot + "/Tests/Fixtures/make-layer.py" }

    /// Writes a layer; `ext` is `tar`, `tar.gz` or `tar.zst`.
    func layer(_ entries: [[String: Any]], ext: String = "tar") throws -> String {
        counter += 1
        let spec = dir + "/spec-\(counter).json"
        try JSONSerialization.data(withJSONObject: entries).write(to: URL(fileURLWithPath: spec))
        let out = dir + "/layer-\(counter).\(ext)"
        try TestRootfs.run(blocking: "/usr/bin/python3", [Self.script, spec, out])
        return out
    }

    /// Unpacks `blob` into a fresh directory over `lowers` (topmost first).
    func unpack(_ blob: String, lowers: [String] = [], privileged: Bool = true) throws -> (path: String, result: LayerUnpacker.Result) {
        counter += 1
        let target = dir + "/unpacked-\(counter)"
        try makeDirectories(target, mode: 0o755)
        var unpacker = LayerUnpacker()
        unpacker.privileged = privileged
        return (target, try unpacker.unpack(blob: blob, into: target, lowers: lowers))
    }

    func cleanUp() { try? removeTree(dir) }

    static func stat(_ path: String) -> Glibc.stat? {
        var st = Glibc.stat()
        return lstat(path, &st) == 0 ? st : nil
    }
}
