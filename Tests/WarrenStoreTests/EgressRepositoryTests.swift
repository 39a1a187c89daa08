import Foundation
import Testing
import WarrenCore
import WarrenStore

@Suite("Egress audit")
struct EgressRepositoryTests {
    @Test("connections are kept newest last per sandbox, trimmed to the kept number; the byte total counts the trimmed ones too")
    func recordAndTrim() async throws {
        let (store, _) = try makeStore()
        let one = EgressRecord(time: Date(timeIntervalSince1970: 1_800_000_000), host: "pypi.org", port: 443, address: "151.101.0.223", allowed: true, bytesOut: 10, bytesIn: 90, via: "connect")
        let denied = EgressRecord(time: Date(timeIntervalSince1970: 1_800_000_001), host: "evil.test", port: 80, reason: "not allowed", via: "http")
        try await store.egress.record([("a", one), ("b", denied), ("a", denied)])
        #expect(try await store.egress.connections(sandboxID: "a") == [one, denied])
        #expect(try await store.egress.connections(sandboxID: "b") == [denied])
        #expect(try await store.egress.bytesUsed(sandboxID: "a") == 100)
        #expect(try await store.egress.bytesUsed(sandboxID: "c") == 0)

        let many = (0..<(EgressRepository.kept + 5)).map { i in
            ("a", EgressRecord(host: "h\(i).test", port: 443, allowed: true, bytesOut: 1, bytesIn: 1, via: "connect"))
        }
        try await store.egress.record(many)
        let kept = try await store.egress.connections(sandboxID: "a")
        #expect(kept.count == EgressRepository.kept)
        #expect(kept.first?.host == "h5.test" && kept.last?.host == "h\(EgressRepository.kept + 4).test")
        #expect(try await store.egress.bytesUsed(sandboxID: "a") == 100 + 2 * Int64(EgressRepository.kept + 5))
        #expect(try await store.egress.connections(sandboxID: "b").count == 1, "another sandbox's are untouched")
    }
}
