#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Foundation
import LinuxSupport
@testable import NativeDriver
import Testing
import WarrenCore

/// The root file system a command is looked up in before anything is made.
@Suite("Commands found through the layers")
struct LayeredRootTests {
    @Test("top layers win, whiteouts and opaque directories hide, links resolve inside the root and into mounts")
    func lookup() throws {
        let dir = NSTemporaryDirectory() + "warren-layers-\(UUID().uuidString.prefix(8))"
        let fm = FileManager.default
        defer { try? removeTree(dir) }
        let upper = dir + "/upper", lower = dir + "/lower", mounted = dir + "/mounted"
        for d in [upper + "/bin", upper + "/opt", lower + "/bin", lower + "/opt/tool", lower + "/usr/bin", mounted + "/bin"] {
            try fm.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        func executable(_ path: String) { _ = fm.createFile(atPath: path, contents: Data("#!/bin/sh\n".utf8)); chmod(path, 0o755) }
        executable(lower + "/bin/sh")
        executable(lower + "/bin/gone")
        executable(lower + "/opt/tool/run")
        executable(lower + "/usr/bin/python3")
        executable(mounted + "/bin/inside")
        _ = fm.createFile(atPath: lower + "/bin/data", contents: Data())
        #expect(mknod(upper + "/bin/gone", S_IFCHR | 0o600, 0) == 0, "whiteout")
        #expect(setxattr(upper + "/opt", "trusted.overlay.opaque", "y", 1, 0) == 0)
        try fm.createSymbolicLink(atPath: upper + "/bin/python", withDestinationPath: "/usr/bin/python3")
        try fm.createSymbolicLink(atPath: upper + "/bin/escape", withDestinationPath: "../../../../../etc/passwd")
        try fm.createSymbolicLink(atPath: mounted + "/bin/py", withDestinationPath: "/usr/bin/python3")

        let root = LayeredRoot(layers: [upper, lower], mounts: [MountSpec(source: mounted, destination: "/venv")])
        let env = ["PATH=/bin:/venv/bin"]
        for found in ["sh", "/bin/sh", "python", "inside", "/venv/bin/py"] {
            #expect(throws: Never.self, "\(found)") { try NativeDriver.checkProgram(found, in: root, env: env, workdir: "/") }
        }
        for missing in ["gone", "/bin/gone", "/opt/tool/run", "data", "/bin/data", "nothere", "/bin/escape", "/venv/bin/nothere"] {
            let e = #expect(throws: WarrenError.self, "\(missing)") { try NativeDriver.checkProgram(missing, in: root, env: env, workdir: "/") }
            #expect(e?.code == .commandNotFound)
        }
        #expect(root.resolve("/bin/escape") == nil, "a link climbing out of the root stays in it")
    }

    @Test("user and group names must be in the image's files")
    func users() throws {
        let dir = NSTemporaryDirectory() + "warren-users-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/etc", withIntermediateDirectories: true)
        defer { try? removeTree(dir) }
        try "root:x:0:0::/root:/bin/sh\nagent:x:1000:1000::/home:/bin/sh\n".write(toFile: dir + "/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\nstaff:x:50:\n".write(toFile: dir + "/etc/group", atomically: true, encoding: .utf8)
        let root = LayeredRoot(layers: [dir])
        for ok in ["agent", "1234", "agent:staff", "0:0", "root:50"] { try NativeDriver.checkUser(ok, in: root) }
        for bad in ["nobodyhere", "agent:nogroup"] {
            #expect(throws: WarrenError.self, "\(bad)") { try NativeDriver.checkUser(bad, in: root) }
        }
    }
}
