import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import RuntimeDriver
import Testing
import WarrenCore
@testable import WarrenDaemon
import WarrenStore

/// A manager over an in-memory store and a fake driver.
struct Harness {
    let store: WarrenStore
    let driver: FakeDriver
    let manager: SandboxManager
    let metrics: DaemonMetrics

    init(store: WarrenStore? = nil, driver: FakeDriver = FakeDriver()) throws {
        let logger = quietLogger
        self.store = try store ?? WarrenStore.inMemory(logger: logger)
        self.driver = driver
        self.metrics = DaemonMetrics()
        self.manager = SandboxManager(store: self.store, drivers: DriverRegistry([driver], defaultName: driver.name),
                                      metrics: metrics, logger: logger)
    }

    var router: Router<DaemonRequestContext> {
        var deps = APIRouter.Dependencies(manager: manager, metrics: metrics, dataRoot: "/tmp/warren-test")
        deps.agents = AgentManager(store: store, sandboxes: manager, clonesDirectory: "/tmp/warren-test/agents/clones", logger: quietLogger)
        return APIRouter.build(deps)
    }

    /// Runs `body` against the routes in memory.
    func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: router, logger: quietLogger)
        try await app.test(.router, body)
    }

    /// Waits until the sandbox reaches `state` (the background waiter runs asynchronously).
    /// The limit is generous: it only matters when the state never comes, and a test
    /// process busy with integration suites can hold this one's tasks back for seconds.
    func waitFor(_ id: String, _ state: SandboxState, timeout: Duration = .seconds(180)) async throws -> SandboxInfo {
        let deadline = ContinuousClock.now + timeout
        while true {
            let info = try #require(try await store.sandboxes.get(id: id))
            if info.state == state { return info }
            if ContinuousClock.now > deadline {
                Issue.record("sandbox \(id) stayed \(info.state), expected \(state)")
                return info
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// Tests log only failures worth seeing.
let quietLogger: Logger = {
    var logger = Logger(label: "warren-test")
    logger.logLevel = .critical
    return logger
}()

/// A valid spec whose rootfs exists on every host.
func testSpec(name: String? = nil, command: [String] = ["/bin/echo", "hi"], autoRemove: Bool = false) -> SandboxSpec {
    SandboxSpec(name: name, rootfs: "/tmp", command: command, autoRemove: autoRemove)
}

func jsonBody(_ value: some Encodable) throws -> ByteBuffer {
    ByteBuffer(bytes: try WarrenJSON.encoder().encode(value))
}

func decode<T: Decodable>(_ type: T.Type, _ buffer: ByteBuffer) throws -> T {
    try WarrenJSON.decoder().decode(T.self, from: Data(buffer.readableBytesView))
}

/// Decodes an NDJSON body, one value per non-empty line.
func decodeLines<T: Decodable>(_ type: T.Type, _ buffer: ByteBuffer) throws -> [T] {
    String(buffer: buffer).split(separator: "\n").map { try! WarrenJSON.decoder().decode(T.self, from: Data($0.utf8)) }
}
