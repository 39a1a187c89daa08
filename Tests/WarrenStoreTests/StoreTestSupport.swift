import Foundation
import Logging
import WarrenCore
import WarrenStore

/// A store in a fresh temporary directory (a real WAL database file).
func makeStore() throws -> (WarrenStore, String) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warren-store-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let store = try WarrenStore(path: dir + "/warren.db", logger: Logger(label: "test"))
    return (store, dir)
}

func sandbox(_ id: String = SandboxID.generate(), name: String? = nil, state: SandboxState = .created,
             created: Date = Date()) -> SandboxInfo {
    SandboxInfo(id: id, name: name, driver: "fake", state: state,
                spec: SandboxSpec(name: name, rootfs: "/", command: ["/bin/true"], env: ["A=1"]),
                createdAt: created)
}
