import Foundation
import Testing
import WarrenCore
import WarrenTestSupport

/// A sandboxed program tries what an escaping agent would; every row must be denied.
@Suite("Native sandbox security", .serialized)
struct NativeSandboxSecurityTests {
    @Test("the probe's dangerous rows are all denied")
    func probeRowsDenied() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let r = try await f.runToEnd(try f.spec(["/bin/warren-probe"]))
        #expect(r.exit.exitCode == 0, "probe failed: \(r.stderr)")
        let rows = r.stdout.split(separator: "\n").map(String.init)
        #expect(rows.last == "probe-done")
        let results = rows.dropLast()
        #expect(results.count >= 30)
        for row in results {
            #expect(row.contains(" DENIED"), "sandbox allowed: \(row)")
        }
        // The denials come from the layer that should give them.
        #expect(rows.contains("clone3 DENIED Function not implemented"))
        #expect(rows.contains("ioctl_tiocsti DENIED Operation not permitted"))
        #expect(rows.contains { $0.hasPrefix("x32_syscall DENIED killed by signal 31") })
        #expect(rows.contains { $0.hasPrefix("i386_syscall DENIED killed by signal 31") })
    }

    @Test("no capabilities, no_new_privs, seccomp filter, non-host-root id map")
    func processCredentials() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let r = try await f.runToEnd(try f.spec(["/bin/sh", "-c", "grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status; cat /proc/self/uid_map; id -u"]))
        #expect(r.exit.exitCode == 0, "\(r.stderr)")
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            #expect(r.stdout.contains("\(set):\t0000000000000000"), "\(set) not empty: \(r.stdout)")
        }
        #expect(r.stdout.contains("NoNewPrivs:\t1"))
        #expect(r.stdout.contains("Seccomp:\t2"))
        let map = r.stdout.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("0 ") }
        let fields = map.map { $0.split(separator: " ", omittingEmptySubsequences: true) } ?? []
        #expect(fields.count == 3 && fields[1] != "0", "sandbox root must not be host root: \(r.stdout)")
        #expect(r.stdout.hasSuffix("0\n"), "sandbox sees itself as root inside")
    }

    @Test("--cap-add keeps exactly the named capability")
    func capAdd() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let r = try await f.runToEnd(try f.spec(["/bin/sh", "-c", "grep CapEff /proc/self/status"]) { $0.capAdd = ["NET_BIND_SERVICE"] })
        #expect(r.stdout.contains("CapEff:\t0000000000000400"), "\(r.stdout)")
    }

    @Test("only loopback, a private pid namespace and its own hostname")
    func isolation() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let r = try await f.runToEnd(try f.spec(["/bin/sh", "-c", "cat /proc/net/dev | tail -n +3 | cut -d: -f1; echo pids $(ls -d /proc/[0-9]* | wc -l); hostname"]) { $0.hostname = "agent-box" })
        let lines = r.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.contains("lo"))
        #expect(!lines.contains("eth0"))
        // Only the sandbox's own few processes are visible, never the host's.
        #expect(lines.first { $0.hasPrefix("pids ") }.map { Int($0.dropFirst(5)) ?? 99 } ?? 99 < 10, "\(r.stdout)")
        #expect(lines.last == "agent-box")
    }

    @Test("the rootfs source is never modified; --read-only refuses writes but /tmp works")
    func rootfsProtection() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let rootfs = try TestRootfs.path()
        let w = try await f.runToEnd(try f.spec(["/bin/sh", "-c", "echo changed > /etc/passwd && rm /bin/ls && echo ok"]))
        #expect(w.stdout == "ok\n", "\(w.stderr)")
        #expect(try String(contentsOfFile: rootfs + "/etc/passwd", encoding: .utf8).hasPrefix("root:x:0:0"))
        #expect(FileManager.default.fileExists(atPath: rootfs + "/bin/ls"))

        let ro = try await f.runToEnd(try f.spec(["/bin/sh", "-c", "touch /etc/x 2>&1; touch /tmp/y && echo tmp-ok"]) { $0.readOnlyRootfs = true })
        #expect(ro.stdout.contains("Read-only file system"))
        #expect(ro.stdout.contains("tmp-ok"))
    }
}
