import Foundation
import Logging
import WarrenCore
#if canImport(Glibc)
import Glibc
#endif

/// Preparing and protecting the daemon's Unix socket path.
enum UnixSocket {
    /// Makes the parent directory (0755 for root, 0700 otherwise) and clears a stale socket.
    ///
    /// Refuses when another process still listens on `path`, or when something that is
    /// not a socket is in the way.
    static func prepare(_ path: String, logger: Logger) throws {
        guard path.hasPrefix("/") else {
            throw WarrenError(.invalidArgument, "socket path '\(path)' must be absolute")
        }
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw WarrenError(.invalidArgument, "socket path '\(path)' is too long")
        }
        let directory = (path as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: directory) {
            let mode: Int16 = geteuid() == 0 ? 0o755 : 0o700
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: mode])
            } catch {
                throw WarrenError(.internalError, "cannot create socket directory \(directory): \(error)")
            }
        }
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw WarrenError(.conflict, "\(path) exists and is not a socket")
        }
        if isListening(path) {
            throw WarrenError(.conflict, "another daemon is already listening on \(path)")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw WarrenError(.internalError, "cannot remove stale socket \(path): \(String(cString: strerror(errno)))")
        }
        logger.info("removed stale socket", metadata: ["path": "\(path)"])
    }

    /// Restricts the bound socket to its owner.
    static func restrict(_ path: String) throws {
        guard chmod(path, 0o600) == 0 else {
            throw WarrenError(.internalError, "chmod 0600 \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether a process accepts connections on the socket at `path`.
    static func isListening(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0
    }
}
