#if canImport(Glibc)
import Glibc
#endif
import WarrenCore

/// A failed system call: the call's name, errno and what it was working on.
public struct SyscallError: Error, CustomStringConvertible, Sendable {
    public var call: String
    public var errno: Int32
    public var context: String

    public init(_ call: String, errno: Int32, _ context: String = "") {
        self.call = call; self.errno = errno; self.context = context
    }

    public var description: String {
        let what = context.isEmpty ? "" : " \(context)"
        return "\(call)\(what): \(String(cString: strerror(errno)))"
    }

    public var warrenError: WarrenError { WarrenError(.internalError, description) }
}

/// Calls `body` until it does not fail with EINTR; throws `SyscallError` on -1.
@discardableResult
public func syscallRetrying<T: FixedWidthInteger>(_ name: String, _ context: String = "", _ body: () -> T) throws -> T {
    while true {
        let r = body()
        if r != -1 { return r }
        let e = Glibc.errno
        if e == EINTR { continue }
        throw SyscallError(name, errno: e, context)
    }
}

/// Writes all of `bytes` to `fd`: at its file offset, or with `pwrite` at `offset`.
public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: off_t? = nil, context: String = "") throws {
    var done = 0
    while done < bytes.count {
        let p = bytes.baseAddress! + done
        let n = try syscallRetrying(offset == nil ? "write" : "pwrite", context) {
            if let offset { return pwrite(fd, p, bytes.count - done, offset + off_t(done)) }
            return Glibc.write(fd, p, bytes.count - done)
        }
        done += n
    }
}

/// Writes all of `bytes` to `fd`.
public func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    try bytes.withUnsafeBytes { try writeAll(fd, $0) }
}

public func writeAll(_ fd: Int32, _ text: String) throws { try writeAll(fd, Array(text.utf8)) }

/// Reads until EOF.
public func readAll(_ fd: Int32) throws -> [UInt8] {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = try buf.withUnsafeMutableBytes { b in try syscallRetrying("read") { Glibc.read(fd, b.baseAddress, b.count) } }
        if n == 0 { return out }
        out.append(contentsOf: buf[0..<n])
    }
}

/// Writes a small file in one go (procfs, cgroupfs).
public func writeFile(_ path: String, _ text: String) throws {
    let fd = try syscallRetrying("open", path) { open(path, O_WRONLY | O_CLOEXEC) }
    defer { close(fd) }
    do { try writeAll(fd, text) } catch let e as SyscallError { throw SyscallError(e.call, errno: e.errno, path) }
}

/// Reads a small file whole, or nil when it does not exist.
public func readFileIfPresent(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    return try? readAll(fd)
}

/// Writes `bytes` to `path` atomically: a temporary file, fsync, rename.
public func writeFileAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
    let tmp = path + ".tmp.\(getpid())"
    let fd = try syscallRetrying("open", tmp) { open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
    do {
        try writeAll(fd, bytes)
        _ = fsync(fd)
        close(fd)
        try syscallRetrying("rename", path) { rename(tmp, path) }
    } catch {
        close(fd)
        unlink(tmp)
        throw error
    }
}

/// `mkdir -p` with a mode for the directories it creates.
public func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
    var current = path.hasPrefix("/") ? "" : "."
    for comp in path.split(separator: "/") {
        current += "/" + comp
        if mkdir(current, mode) != 0 && Glibc.errno != EEXIST {
            throw SyscallError("mkdir", errno: Glibc.errno, current)
        }
    }
}

/// Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat),
/// which with the pid identifies a process across pid reuse.
public func processStartTime(_ pid: Int32) -> UInt64? {
    guard let bytes = readFileIfPresent("/proc/\(pid)/stat") else { return nil }
    let text = String(decoding: bytes, as: UTF8.self)
    guard let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // fields[0] is the state (field 3); start time is field 22.
    guard fields.count > 19 else { return nil }
    return UInt64(fields[19])
}

/// The state letter of a process (field 3 of /proc/PID/stat: R, S, D, T, t, Z, ...).
public func processState(_ pid: Int32) -> Character? {
    guard let bytes = readFileIfPresent("/proc/\(pid)/stat") else { return nil }
    let text = String(decoding: bytes, as: UTF8.self)
    guard let close = text.lastIndex(of: ")") else { return nil }
    return text[text.index(after: close)...].dropFirst().first
}

/// Whether the process with `pid` exists and started at `startTime`.
public func processIsAlive(_ pid: Int32, startTime: UInt64) -> Bool {
    guard let st = processStartTime(pid) else { return false }
    if st != startTime { return false }
    // A zombie has exited already.
    if let bytes = readFileIfPresent("/proc/\(pid)/stat") {
        let text = String(decoding: bytes, as: UTF8.self)
        if let close = text.lastIndex(of: ")") {
            let state = text[text.index(after: close)...].dropFirst().first
            if state == "Z" || state == "X" { return false }
        }
    }
    return true
}
