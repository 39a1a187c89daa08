import CLinux
import Foundation
import Testing
import WarrenCore
import WarrenTestSupport

/// A sandbox without a network has a name server of its own on its loopback that says
/// "no such name" at once, rather than a host resolver it cannot reach (for which musl's
/// resolver waits out its whole timeout).
@Suite("Sandbox name server")
struct SandboxNameServerTests {
    @Test("without a network: resolv.conf names 127.0.0.1, which answers NXDOMAIN; /etc/hosts still names the sandbox")
    func nxdomainAtOnce() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let script = "cat /etc/resolv.conf; nslookup nosuch.example; echo rc=$?; grep -c \"$(hostname)\" /etc/hosts"
        let r = try await f.runToEnd(try f.spec(["/bin/sh", "-c", script]))
        #expect(r.stdout.hasPrefix("nameserver 127.0.0.1\n"), "\(r.stdout)")
        #expect((r.stdout + r.stderr).contains("NXDOMAIN"), "\(r.stdout) \(r.stderr)")
        #expect(!(r.stdout + r.stderr).contains("timed out"), "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("rc=1\n1\n"), "\(r.stdout)")
    }

    @Test("answers: the question kept, NXDOMAIN (NOTIMP for other opcodes), no records; responses and junk get none")
    func answers() {
        // id 0xBEEF, RD, one question "a.b" A IN, and an EDNS OPT record after it.
        let question: [UInt8] = [1, 0x61, 1, 0x62, 0, 0, 1, 0, 1]
        let opt: [UInt8] = [0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]
        let query: [UInt8] = [0xBE, 0xEF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1] + question + opt
        func answer(_ q: [UInt8]) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: 512)
            let n = warren_dns_answer(q, q.count, &out)
            return Array(out.prefix(n))
        }
        #expect(answer(query) == [0xBE, 0xEF, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0] + question)
        var update = query
        update[2] = 0x28  // opcode 5 (update)
        #expect(answer(update)[3] == 0x84)
        var response = query
        response[2] |= 0x80
        #expect(answer(response).isEmpty)
        #expect(answer(Array(query.prefix(11))).isEmpty)
        #expect(answer([0xBE, 0xEF, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, 0x61]).isEmpty, "a name running past the end")
    }
}
