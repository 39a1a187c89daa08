#if canImport(Glibc)
import Glibc
#endif
import WarrenCore

/// Which cgroup layout the host has and how Warren places sandboxes in it.
///
/// Pure v2 (`/sys/fs/cgroup/cgroup.controllers` exists) uses one directory per
/// sandbox. Hybrid and v1 hosts keep controllers on v1 hierarchies; there a sandbox
/// gets a directory in each of the memory, pids, cpu and freezer hierarchies.
public enum CgroupLayout: Sendable, Equatable {
    case v2(root: String)
    case v1(controllers: [String: String])

    public static let v1Controllers = ["memory", "pids", "cpu", "freezer"]

    public static func detect(root: String = "/sys/fs/cgroup") -> CgroupLayout? {
        if access(root + "/cgroup.controllers", F_OK) == 0 { return .v2(root: root) }
        var found: [String: String] = [:]
        for c in v1Controllers {
            for candidate in [root + "/" + c, root + "/cpu,cpuacct"] where c == "cpu" || candidate.hasSuffix(c) {
                if access(candidate + "/tasks", F_OK) == 0 { found[c] = candidate; break }
            }
        }
        return found.isEmpty ? nil : .v1(controllers: found)
    }

    public var versionName: String {
        switch self {
        case .v2: "v2"
        case .v1: "v1"
        }
    }

    /// Whether memory, pids and cpu limits can be applied.
    public var hasLimitControllers: Bool {
        switch self {
        case .v2(let root):
            let ctl = String(decoding: readFileIfPresent(root + "/cgroup.controllers") ?? [], as: UTF8.self)
            return ctl.contains("memory") && ctl.contains("pids")
        case .v1(let c):
            return c["memory"] != nil && c["pids"] != nil
        }
    }
}

/// One sandbox's cgroup (a directory per hierarchy).
public struct SandboxCgroup: Sendable {
    public let layout: CgroupLayout
    /// Path relative to each hierarchy root, e.g. `warren/<id>`.
    public let relativePath: String

    public init(layout: CgroupLayout, relativePath: String) {
        self.layout = layout
        self.relativePath = relativePath
    }

    /// Every directory of this cgroup, one per hierarchy.
    public var directories: [String] {
        switch layout {
        case .v2(let root): [root + "/" + relativePath]
        case .v1(let c): c.keys.sorted().map { c[$0]! + "/" + relativePath }
        }
    }

    // MARK: - Create

    /// Creates the cgroup and applies the limits. Throws when a limit cannot be set.
    public func create(limits: ResourceLimits) throws {
        switch layout {
        case .v2(let root):
            let parent = relativePath.split(separator: "/").dropLast().joined(separator: "/")
            try enableV2Controllers(root: root, parent: parent)
            let dir = root + "/" + relativePath
            try makeDirectories(dir)
            if let m = limits.memoryBytes {
                try writeFile(dir + "/memory.max", "\(m)")
                try? writeFile(dir + "/memory.swap.max", "0")
            }
            if let p = limits.pids { try writeFile(dir + "/pids.max", "\(p)") }
            if let c = limits.cpus {
                let period = 100_000
                try writeFile(dir + "/cpu.max", "\(Int(c * Double(period))) \(period)")
            }
        case .v1(let c):
            for (_, base) in c { try makeDirectories(base + "/" + relativePath) }
            if let m = limits.memoryBytes, let base = c["memory"] {
                try writeFile(base + "/" + relativePath + "/memory.limit_in_bytes", "\(m)")
                try? writeFile(base + "/" + relativePath + "/memory.memsw.limit_in_bytes", "\(m)")
            }
            if let p = limits.pids, let base = c["pids"] {
                try writeFile(base + "/" + relativePath + "/pids.max", "\(p)")
            }
            if let cpus = limits.cpus, let base = c["cpu"] {
                let period = 100_000
                try writeFile(base + "/" + relativePath + "/cpu.cfs_period_us", "\(period)")
                try writeFile(base + "/" + relativePath + "/cpu.cfs_quota_us", "\(Int(cpus * Double(period)))")
            }
        }
    }

    private func enableV2Controllers(root: String, parent: String) throws {
        let available = String(decoding: readFileIfPresent(root + "/cgroup.controllers") ?? [], as: UTF8.self)
            .split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        let wanted = ["memory", "pids", "cpu"].filter { available.contains($0) }
        var dir = root
        try? writeFile(dir + "/cgroup.subtree_control", wanted.map { "+" + $0 }.joined(separator: " "))
        for comp in parent.split(separator: "/") {
            dir += "/" + comp
            try makeDirectories(dir)
            try? writeFile(dir + "/cgroup.subtree_control", wanted.map { "+" + $0 }.joined(separator: " "))
        }
    }

    // MARK: - Membership

    /// Moves `pid` into the cgroup in every hierarchy.
    public func add(pid: Int32) throws {
        for dir in directories { try writeFile(dir + "/cgroup.procs", "\(pid)") }
    }

    /// Pids of every process in the cgroup (any hierarchy).
    public func pids() -> [Int32] {
        var all = Set<Int32>()
        for dir in directories {
            let text = String(decoding: readFileIfPresent(dir + "/cgroup.procs") ?? [], as: UTF8.self)
            for line in text.split(separator: "\n") { if let p = Int32(line) { all.insert(p) } }
        }
        return all.sorted()
    }

    public var exists: Bool { directories.contains { access($0, F_OK) == 0 } }

    // MARK: - Kill and remove

    /// Kills every process in the cgroup and waits (bounded) until it is empty.
    public func killAll() {
        switch layout {
        case .v2(let root):
            let dir = root + "/" + relativePath
            if (try? writeFile(dir + "/cgroup.kill", "1")) == nil {
                for p in pids() { kill(p, SIGKILL) }
            }
        case .v1(let c):
            // Freeze so nothing forks while we kill, then thaw so the kills land.
            let freezer = c["freezer"].map { $0 + "/" + relativePath + "/freezer.state" }
            if let f = freezer { try? writeFile(f, "FROZEN") }
            for _ in 0..<20 {
                let ps = pids()
                if ps.isEmpty { break }
                for p in ps { kill(p, SIGKILL) }
                if let f = freezer { try? writeFile(f, "THAWED") }
                usleep(5_000)
                if let f = freezer { try? writeFile(f, "FROZEN") }
            }
            if let f = freezer { try? writeFile(f, "THAWED") }
        }
        for _ in 0..<200 where !pids().isEmpty { usleep(10_000) }
    }

    /// Removes the cgroup directories (killing what is left first).
    public func remove() throws {
        if !pids().isEmpty { killAll() }
        for dir in directories where access(dir, F_OK) == 0 {
            var tries = 0
            while rmdir(dir) != 0 {
                let e = Glibc.errno
                if e == ENOENT { break }
                tries += 1
                if e != EBUSY || tries > 100 { throw SyscallError("rmdir", errno: e, dir) }
                usleep(10_000)
            }
        }
    }

    /// Removes the directory `parent` (e.g. `warren-<hash>`) from every hierarchy where it
    /// is empty; one that still holds sandboxes stays. Returns the directories removed.
    @discardableResult
    public static func removeParentIfEmpty(layout: CgroupLayout, parent: String) -> [String] {
        let roots: [String]
        switch layout {
        case .v2(let root): roots = [root]
        case .v1(let c): roots = Array(c.values)
        }
        var removed: [String] = []
        for r in roots where !parent.isEmpty {
            let dir = r + "/" + parent
            if rmdir(dir) == 0 { removed.append(dir) }
        }
        return removed
    }

    /// Names of sandbox cgroups under `parent` (e.g. `warren`) in any hierarchy.
    public static func children(layout: CgroupLayout, parent: String) -> [String] {
        let roots: [String]
        switch layout {
        case .v2(let root): roots = [root]
        case .v1(let c): roots = Array(c.values)
        }
        var names = Set<String>()
        for r in roots {
            guard let d = opendir(r + "/" + parent) else { continue }
            while let ent = readdir(d) {
                guard ent.pointee.d_type == UInt8(DT_DIR) else { continue }
                let name = withUnsafePointer(to: ent.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if name != "." && name != ".." { names.insert(name) }
            }
            closedir(d)
        }
        return names.sorted()
    }
}

import Foundation
