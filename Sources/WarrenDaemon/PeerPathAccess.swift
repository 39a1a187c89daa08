#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import NIOCore
import WarrenCore

/// Acting on a host path for a client of the Unix socket only as far as the client's own
/// uid and groups could: every directory on the way searchable, the file readable (or the
/// directory to write into writable) by them, as the kernel's permission bits say.
struct PeerPathAccess: Sendable {
    var uid: uid_t
    var gids: Set<gid_t>

    enum Want { case read, write }

    /// The peer of a Unix socket connection (its uid, primary gid and supplementary groups).
    static func of(_ channel: (any Channel)?) async throws -> PeerPathAccess {
        guard let provider = channel as? any SocketOptionProvider else {
            throw WarrenError(.forbidden, "host paths are accepted on the daemon's Unix socket only")
        }
        let cred: PeerCredentials = try await provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)).get()
        var gids: Set<gid_t> = [cred.gid]
        let status = String(decoding: readFileIfPresent("/proc/\(cred.pid)/status") ?? [], as: UTF8.self)
        let lines = status.split(separator: "\n")
        // The pid may have been reused since it connected: its groups count only while it
        // is still the same user's.
        let uidLine = lines.first { $0.hasPrefix("Uid:") }?.dropFirst(4).split(whereSeparator: { $0 == "\t" || $0 == " " })
        if uidLine?.first.flatMap({ uid_t($0) }) == cred.uid,
           let line = lines.first(where: { $0.hasPrefix("Groups:") }) {
            for g in line.dropFirst(7).split(separator: " ") { if let n = gid_t(g) { gids.insert(n) } }
        }
        return PeerPathAccess(uid: cred.uid, gids: gids)
    }

    /// Throws `forbidden` unless the peer may read `path` (a file, or a directory tree and
    /// everything in it), or create `path` (its parent writable, or it an empty writable directory).
    func check(_ given: String, _ want: Want) throws {
        guard uid != 0 else { return }
        guard given.hasPrefix("/") else { throw WarrenError(.invalidArgument, "\(given) must be an absolute path") }
        // Judged on the canonical path, so every directory a link leads through is checked.
        guard let path = MountPolicy.resolve(given) else { throw WarrenError(.invalidArgument, "\(given) does not exist") }
        var st = stat()
        let exists = stat(path, &st) == 0
        switch want {
        case .read:
            guard exists else { throw WarrenError(.invalidArgument, "\(path) does not exist") }
            try searchable(upTo: path)
            try allowed(path, st, read: true)
            if (st.st_mode & S_IFMT) == S_IFDIR {
                guard let walker = FileManager.default.enumerator(atPath: path) else { return }
                for case let name as String in walker {
                    var child = stat()
                    guard lstat(path + "/" + name, &child) == 0 else { continue }
                    try allowed(path + "/" + name, child, read: true)
                }
            }
        case .write:
            let parent = (path as NSString).deletingLastPathComponent
            try searchable(upTo: exists ? path : parent + "/x")
            if exists {
                try allowed(path, st, read: false)
            } else {
                var pst = stat()
                guard stat(parent, &pst) == 0 else { throw WarrenError(.invalidArgument, "\(parent) does not exist") }
                try allowed(parent, pst, read: false)
            }
        }
    }

    /// Every directory above `path` must let the peer search it.
    private func searchable(upTo path: String) throws {
        var dir = ""
        for part in path.split(separator: "/").dropLast() {
            dir += "/" + part
            var st = stat()
            guard stat(dir, &st) == 0 else { return }
            guard permits(st, bit: 1) else { throw denied(dir) }
        }
    }

    private func allowed(_ path: String, _ st: stat, read: Bool) throws {
        let isDir = (st.st_mode & S_IFMT) == S_IFDIR
        let ok = read ? permits(st, bit: 4) && (!isDir || permits(st, bit: 1)) : permits(st, bit: 2) && (!isDir || permits(st, bit: 1))
        if !ok { throw denied(path) }
    }

    /// Whether the owner, group or other bits (whichever apply to the peer) hold `bit` (4, 2, 1).
    private func permits(_ st: stat, bit: mode_t) -> Bool {
        if st.st_uid == uid { return st.st_mode & (bit << 6) != 0 }
        if gids.contains(st.st_gid) { return st.st_mode & (bit << 3) != 0 }
        return st.st_mode & bit != 0
    }

    private func denied(_ path: String) -> WarrenError {
        WarrenError(.forbidden, "uid \(uid) may not use \(path): the daemon acts on host paths only as far as its client could")
    }
}
