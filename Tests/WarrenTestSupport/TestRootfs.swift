import Foundation
import LinuxSupport
import WarrenCore

/// A busybox root filesystem with the security probe, built once per test process.
public enum TestRootfs {
    static let shared: Result<String, any Error> = Result { try build() }

    public static func path() throws -> String { try shared.get() }

    public static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    static func build() throws -> String {
        let root = NSTemporaryDirectory() + "warren-test-rootfs-\(getpid())"
        let fm = FileManager.default
        try? fm.removeItem(atPath: root)
        for d in ["bin", "etc", "home/agent", "root"] {
            try fm.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true)
        }
        guard let busybox = ["/bin/busybox", "/usr/bin/busybox"].first(where: { fm.isExecutableFile(atPath: $0) }) else {
            throw WarrenError(.unavailable, "busybox-static is not installed (apt-get install busybox-static)")
        }
        try fm.copyItem(atPath: busybox, toPath: root + "/bin/busybox")
        let applets = try run(blocking: busybox, ["--list"]).split(separator: "\n")
        for a in applets where a != "busybox" {
            try? fm.createSymbolicLink(atPath: root + "/bin/" + a, withDestinationPath: "busybox")
        }
        try "root:x:0:0:root:/root:/bin/sh\nagent:x:1000:1000:agent:/home/agent:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"
            .write(toFile: root + "/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\nagent:x:1000:\nnogroup:x:65534:\n".write(toFile: root + "/etc/group", atomically: true, encoding: .utf8)
        let probe = packageRoot + "/runtime/probe/warren-probe.c"
        _ = try run(blocking: "/usr/bin/cc", ["-static", "-O2", "-o", root + "/bin/warren-probe", probe])
        return root
    }

    /// `run` on a thread of its own, which async code calls: a program's run must not
    /// hold one of the two threads of Swift's cooperative pool.
    @discardableResult
    public static func run(_ path: String, _ args: [String]) async throws -> String {
        try await runBlocking { try run(blocking: path, args) }
    }

    @discardableResult
    public static func run(blocking path: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitForExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else { throw WarrenError(.internalError, "\(path) \(args) failed: \(text)") }
        return text
    }
}

/// The directory holding the built executables (next to the test bundle).
public enum BuiltProducts {
    public static var directory: String {
        if let d = ProcessInfo.processInfo.environment["WARREN_BIN_DIR"] { return d }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().path
    }
    public static var helper: String { directory + "/warren-sandbox" }
    public static var cli: String { directory + "/warren" }
}

