import Foundation
import Testing
import WarrenCore

@Suite("Input rules shared by the API and the CLI")
struct InputRulesTests {
    @Test("sizes: units, and nothing an Int64 cannot hold")
    func sizes() throws {
        #expect(try ByteSize.parse("512m") == 512 << 20)
        #expect(try ByteSize.parse("1.5k") == 1536)
        for bad in ["1e30", "1e30g", "inf", "nan", "-1", "9223372036854775808", "lots", "", "1x"] {
            #expect(throws: WarrenError.self, "\(bad)") { _ = try ByteSize.parse(bad) }
        }
    }

    @Test("limits: finite and in range")
    func limits() throws {
        try ResourceLimits.defaults.validate()
        let bad: [ResourceLimits] = [
            .init(memoryBytes: 1), .init(cpus: .infinity), .init(cpus: .nan), .init(cpus: 0), .init(pids: 0),
            .init(pids: Int.max), .init(openFiles: 10_000_000), .init(fileSizeBytes: 0), .init(timeoutSeconds: 1e300),
            .init(timeoutSeconds: -1), .init(timeoutSeconds: .nan), .init(logBytes: 1), .init(diskBytes: 1 << 62),
        ]
        for l in bad { #expect(throws: WarrenError.self, "\(l)") { try l.validate() } }
        #expect(throws: WarrenError.self) { _ = try StopRequest(graceSeconds: 1e306).grace() }
        #expect(try StopRequest(graceSeconds: 1.5).grace() == .milliseconds(1500))
    }

    @Test("strings: no NUL, bounded, host names and labels")
    func strings() throws {
        var spec = SandboxSpec(rootfs: "/r", command: ["/bin/true"])
        try spec.validate()
        for mutate in [{ (s: inout SandboxSpec) in s.env = ["A=b\u{0}"] }, { $0.command = ["/bin/echo", "a\u{0}b"] },
                       { $0.hostname = "a\nb" }, { $0.hostname = "-x" }, { $0.workdir = "/w\u{0}" },
                       { $0.labels = ["": "v"] }, { $0.user = "a:b:c" }, { $0.mounts = [MountSpec(source: "/a", destination: "/../x")] },
                       { $0.command = [String(repeating: "a", count: 600_000)] }] {
            var s = spec
            mutate(&s)
            #expect(throws: WarrenError.self, "\(s)") { try s.validate() }
        }
        #expect(throws: WarrenError.self) { _ = try Labels.parse(["="]) }
        #expect(try Labels.parse(["a=b=c", "flag"]) == ["a": "b=c", "flag": ""])
        spec.hostname = "agent-1.local"
        try spec.validate()
    }

    @Test("the NDJSON framer is linear: 16 MiB of blank lines are looked at about once")
    func framerIsLinear() throws {
        var f = NDJSONFramer(maxLine: 1 << 20)
        let blanks = [UInt8](repeating: UInt8(ascii: "\n"), count: 16 << 20)
        for chunk in stride(from: 0, to: blanks.count, by: 65536) {
            f.append(blanks[chunk..<min(chunk + 65536, blanks.count)])
            #expect(try f.nextLine() == nil)
        }
        f.append(Array("{\"x\":1}\n  \n{\"y\"".utf8))
        #expect(try f.nextLine() == Array("{\"x\":1}".utf8))
        #expect(try f.nextLine() == nil)
        #expect(try f.nextLine(atEnd: true) == Array("{\"y\"".utf8))
        #expect(f.bytesExamined <= 2 * (blanks.count + 64), "\(f.bytesExamined) bytes examined")
        var long = NDJSONFramer(maxLine: 8)
        long.append(Array("0123456789".utf8))
        #expect(throws: WarrenError.self) { _ = try long.nextLine() }
    }
}
