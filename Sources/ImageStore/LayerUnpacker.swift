#if canImport(Glibc)
import Glibc
#endif
import CArchive
import CLinux
import LinuxSupport
import WarrenCore

/// Unpacks one layer blob into an empty directory, as an overlay lower layer.
///
/// Semantics follow containerd's: `.wh.<name>` becomes an overlay whiteout (a 0/0
/// character device) and `.wh..wh..opq` marks its directory opaque
/// (`trusted.overlay.opaque`); both affect lower layers only, wherever they stand in
/// the tar. Hard links stay links within the layer; symlinks are stored as they are
/// and never followed; modes, owners, mtimes and xattrs are kept where permitted;
/// device nodes are made only with privilege, otherwise skipped with a note. An entry
/// that would write outside the root — `..`, an absolute name, a walk through any
/// symlink of this layer or a lower one, a hard link to outside — fails the layer.
struct LayerUnpacker {
    /// Chown, mknod and trusted xattrs need root; a rootless daemon keeps its own ids.
    var privileged = geteuid() == 0
    private(set) var notes: [String] = []

    struct Result {
        var diffID: Digest
        var size: Int64
        var notes: [String]
        /// Directories made for entries that needed them: `LayerPaths.checkCreated` input.
        var createdDirectories: [(path: [String], entry: String)] = []
    }

    private struct PendingDirectory { var components: [String]; var mode: mode_t; var mtime: timespec }

    /// Unpacks `blob` into `target` (which must exist and be empty); `lowers` are the
    /// unpacked layers below it, topmost first.
    mutating func unpack(blob: String, into target: String, lowers: [String]) throws -> Result {
        try unpack(.file(blob), into: target, lowers: lowers)
    }

    /// Unpacks a blob, committed or still downloading.
    mutating func unpack(_ source: ArchiveSource, into target: String, lowers: [String]) throws -> Result {
        let rootFD = try syscallRetrying("open", target) { open(target, WARREN_O_PATH | O_DIRECTORY | O_CLOEXEC) }
        var lowerFDs: [Int32] = []
        defer {
            close(rootFD)
            for fd in lowerFDs { close(fd) }
        }
        for l in lowers {
            lowerFDs.append(try syscallRetrying("open", l) { open(l, WARREN_O_PATH | O_DIRECTORY | O_CLOEXEC) })
        }
        var paths = LayerPaths(rootFD: rootFD, lowerFDs: lowerFDs)
        defer { paths.invalidate() }
        let stream = try ArchiveStream(source)
        var directories: [PendingDirectory] = []
        while let entry = try stream.nextEntry() {
            let name = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
            let comps = try LayerPaths.components(of: name)
            if comps.isEmpty {
                directories.append(PendingDirectory(components: [], mode: archive_entry_perm(entry), mtime: Self.mtime(entry)))
                continue
            }
            let parent = try paths.directory(Array(comps.dropLast()), entry: name)
            let base = comps.last!
            if base == ".wh..wh..opq" {
                try markOpaque(parent, entry: name)
            } else if base.hasPrefix(".wh.") {
                try whiteOut(String(base.dropFirst(4)), in: parent, entry: name)
            } else if let link = archive_entry_hardlink(entry).map({ String(cString: $0) }) {
                try hardLink(to: link, as: base, in: parent, entry: name, paths: &paths)
            } else if let dir = try write(entry, name: base, in: parent, entryName: name, stream: stream, paths: &paths) {
                directories.append(PendingDirectory(components: comps, mode: dir.mode, mtime: dir.mtime))
            }
        }
        let diffID = try stream.finish()
        // Directories last, deepest first: writing their children changed their mtimes.
        for d in directories.reversed() {
            let fd = d.components.isEmpty ? dup(rootFD) : try paths.directory(d.components, entry: d.components.joined(separator: "/"))
            let path = "/proc/self/fd/\(fd)"
            _ = chmod(path, d.mode)
            var times = [timespec(tv_sec: 0, tv_nsec: Self.utimeOmit), d.mtime]
            _ = utimensat(AT_FDCWD, path, &times, 0)
            if d.components.isEmpty { close(fd) }
        }
        return Result(diffID: diffID, size: stream.uncompressedBytes, notes: notes, createdDirectories: paths.created)
    }

    // MARK: - Entries

    /// Creates a file, directory, symlink, fifo or device; returns a directory's
    /// metadata to apply at the end.
    private mutating func write(_ entry: OpaquePointer, name: String, in parent: Int32, entryName: String,
                                stream: ArchiveStream, paths: inout LayerPaths) throws -> (mode: mode_t, mtime: timespec)? {
        let type = archive_entry_filetype(entry)
        let perm = archive_entry_perm(entry)
        var existing = stat()
        let exists = fstatat(parent, name, &existing, AT_SYMLINK_NOFOLLOW) == 0
        let existingType = existing.st_mode & S_IFMT
        let replacesWhiteout = exists && existingType == S_IFCHR && existing.st_rdev == 0
        if exists && !(type == S_IFDIR && existingType == S_IFDIR) {
            try remove(name, in: parent, isDirectory: existingType == S_IFDIR, paths: &paths)
        }
        switch type {
        case S_IFDIR:
            if !(exists && existingType == S_IFDIR) {
                try syscallRetrying("mkdirat", entryName) { mkdirat(parent, name, 0o700) }
                // A directory where this layer also whited the name out replaces the
                // lower one entirely.
                if replacesWhiteout { try markOpaque(try openDirectory(parent, name), entry: entryName, close: true) }
            }
            try applyOwner(entry, parent, name)
            try applyXattrs(entry, directory: name, in: parent)
            return (perm, Self.mtime(entry))
        case S_IFREG:
            let fd = try syscallRetrying("openat", entryName) {
                openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            }
            defer { close(fd) }
            try copyData(stream, to: fd, size: archive_entry_size(entry), entry: entryName)
            try applyOwner(entry, parent, name)
            _ = fchmod(fd, perm)  // after chown, which clears set-id bits
            try applyXattrs(entry, fd: fd)
        case S_IFLNK:
            let target = archive_entry_symlink(entry).map { String(cString: $0) } ?? ""
            try syscallRetrying("symlinkat", entryName) { symlinkat(target, parent, name) }
            try applyOwner(entry, parent, name)
        case S_IFIFO:
            try syscallRetrying("mknodat", entryName) { mknodat(parent, name, S_IFIFO | perm, 0) }
            try applyOwner(entry, parent, name)
            _ = fchmodat(parent, name, perm, 0)
        case S_IFCHR, S_IFBLK:
            guard privileged else {
                notes.append("skipped device node \(entryName): creating devices needs a root daemon")
                return nil
            }
            let dev = Self.device(major: UInt64(archive_entry_rdevmajor(entry)), minor: UInt64(archive_entry_rdevminor(entry)))
            try syscallRetrying("mknodat", entryName) { mknodat(parent, name, type | perm, dev) }
            try applyOwner(entry, parent, name)
            _ = fchmodat(parent, name, perm, 0)
        default:
            notes.append("skipped \(entryName): unsupported entry type \(String(type, radix: 8))")
            return nil
        }
        var times = [timespec(tv_sec: 0, tv_nsec: Self.utimeOmit), Self.mtime(entry)]
        _ = utimensat(parent, name, &times, AT_SYMLINK_NOFOLLOW)
        return nil
    }

    private func copyData(_ stream: ArchiveStream, to fd: Int32, size: Int64, entry: String) throws {
        var block: UnsafeRawPointer?
        var length = 0
        var offset: la_int64_t = 0
        while true {
            let r = archive_read_data_block(stream.tar, &block, &length, &offset)
            if r == ARCHIVE_EOF { break }
            if r < ARCHIVE_WARN {
                throw WarrenError(.invalidArgument, "layer entry '\(entry)' is truncated: \(ArchiveStream.message(stream.tar))")
            }
            do {
                try writeAll(fd, UnsafeRawBufferPointer(start: block, count: length), at: off_t(offset), context: entry)
            } catch let e as SyscallError where e.errno == ENOSPC {
                throw WarrenError(.internalError, "no space left on the device holding the layers")
            }
        }
        try syscallRetrying("ftruncate", entry) { ftruncate(fd, off_t(size)) }  // sparse tails
    }

    /// A hard link to an entry of this same layer, resolved without following symlinks.
    private func hardLink(to target: String, as name: String, in parent: Int32, entry: String, paths: inout LayerPaths) throws {
        let comps = try LayerPaths.components(of: target)
        guard let targetName = comps.last else { throw LayerEntryError(entry, "links to the layer root") }
        let targetDir = try openExisting(Array(comps.dropLast()), root: paths.rootFD, entry: entry)
        defer { close(targetDir) }
        var st = stat()
        guard fstatat(targetDir, targetName, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw LayerEntryError(entry, "is a hard link to '\(target)', which is not in this layer")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw LayerEntryError(entry, "is a hard link to a directory") }
        var existing = stat()
        if fstatat(parent, name, &existing, AT_SYMLINK_NOFOLLOW) == 0 {
            try remove(name, in: parent, isDirectory: (existing.st_mode & S_IFMT) == S_IFDIR, paths: &paths)
        }
        try syscallRetrying("linkat", entry) { linkat(targetDir, targetName, parent, name, 0) }
    }

    /// Opens an existing directory of this layer; never creates, never follows a symlink.
    private func openExisting(_ comps: [String], root: Int32, entry: String) throws -> Int32 {
        var fd = dup(root)
        for c in comps {
            let next = openat(fd, c, WARREN_O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC)
            close(fd)
            guard next >= 0 else { throw LayerEntryError(entry, "links through '\(c)', which is not a directory in this layer") }
            fd = next
        }
        return fd
    }

    /// `.wh.<name>`: hides `name` of the layers below, unless this layer has its own.
    private func whiteOut(_ name: String, in parent: Int32, entry: String) throws {
        guard !name.isEmpty, name != ".", name != ".." else { throw LayerEntryError(entry, "whites out an invalid name") }
        var st = stat()
        if fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 { return }
        guard mknodat(parent, name, S_IFCHR, 0) == 0 else {
            let e = errno
            throw WarrenError(.unsupported, "cannot record whiteout \(entry): \(String(cString: strerror(e))) (whiteouts need a root daemon)")
        }
    }

    private func markOpaque(_ parent: Int32, entry: String, close closeAfter: Bool = false) throws {
        defer { if closeAfter { close(parent) } }
        let path = "/proc/self/fd/\(parent)"
        guard setxattr(path, "trusted.overlay.opaque", "y", 1, 0) == 0 else {
            let e = errno
            throw WarrenError(.unsupported, "cannot mark \(entry) opaque: \(String(cString: strerror(e))) (opaque directories need a root daemon)")
        }
    }

    private func openDirectory(_ parent: Int32, _ name: String) throws -> Int32 {
        try syscallRetrying("openat", name) { openat(parent, name, WARREN_O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC) }
    }

    private func remove(_ name: String, in parent: Int32, isDirectory: Bool, paths: inout LayerPaths) throws {
        if !isDirectory {
            try syscallRetrying("unlinkat", name) { unlinkat(parent, name, 0) }
            return
        }
        try removeTree("/proc/self/fd/\(parent)/\(name)")
        paths.invalidate()
    }

    // MARK: - Metadata

    private func applyOwner(_ entry: OpaquePointer, _ parent: Int32, _ name: String) throws {
        guard privileged else { return }
        let uid = uid_t(truncatingIfNeeded: archive_entry_uid(entry))
        let gid = gid_t(truncatingIfNeeded: archive_entry_gid(entry))
        try syscallRetrying("fchownat", name) { fchownat(parent, name, uid, gid, AT_SYMLINK_NOFOLLOW) }
    }

    private mutating func applyXattrs(_ entry: OpaquePointer, directory name: String, in parent: Int32) throws {
        guard archive_entry_xattr_count(entry) > 0 else { return }
        let fd = try syscallRetrying("openat", name) { openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        defer { close(fd) }
        try applyXattrs(entry, fd: fd)
    }

    private mutating func applyXattrs(_ entry: OpaquePointer, fd: Int32) throws {
        guard archive_entry_xattr_reset(entry) > 0 else { return }
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK, let name {
            let key = String(cString: name)
            // Overlay's own attributes are ours to set, never an image's.
            if key.hasPrefix("trusted.overlay.") || key.hasPrefix("user.overlay.") { continue }
            if fsetxattr(fd, key, value, size, 0) != 0 {
                notes.append("xattr \(key) not kept: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// utimensat's "leave this time alone".
    static let utimeOmit = (1 << 30) - 2

    /// glibc's makedev, which Swift does not import.
    static func device(major: UInt64, minor: UInt64) -> dev_t {
        dev_t(((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff))
    }

    static func mtime(_ entry: OpaquePointer) -> timespec {
        timespec(tv_sec: archive_entry_mtime(entry), tv_nsec: Int(archive_entry_mtime_nsec(entry)))
    }
}
