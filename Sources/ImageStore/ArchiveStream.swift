#if canImport(Glibc)
import Glibc
#endif
import CArchive
import WarrenCore

/// Where a layer's bytes come from: a committed blob, or one still downloading.
enum ArchiveSource {
    case file(String)
    case feed(BlobFeed)
}

/// A layer blob read as a tar stream through libarchive, with the digest of the
/// uncompressed bytes (the layer's diff id) computed on the way.
///
/// Two readers are chained: `raw` undoes whatever compression the blob has (gzip,
/// zstd, none — libarchive detects it) and hands the plain bytes to `tar` through a
/// read callback that hashes them first.
final class ArchiveStream {
    private let raw: OpaquePointer
    let tar: OpaquePointer
    private let buffer: UnsafeMutableRawPointer
    private let bufferSize = 1 << 20
    private var hasher = Hasher256()
    private(set) var uncompressedBytes: Int64 = 0
    private var failure: String?
    /// A download being read: its compressed bytes pass through `feedBuffer`.
    private var feed: BlobFeed?
    private var feedBuffer: UnsafeMutableRawPointer?
    private var feedOffset: Int64 = 0

    init(_ source: ArchiveSource) throws {
        guard let raw = archive_read_new(), let tar = archive_read_new() else {
            throw WarrenError(.internalError, "libarchive could not allocate a reader")
        }
        self.raw = raw
        self.tar = tar
        buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 16)
        archive_read_support_filter_all(raw)
        archive_read_support_format_raw(raw)
        archive_read_support_format_tar(tar)
        let me = Unmanaged.passUnretained(self).toOpaque()
        let path: String
        let opened: Int32
        switch source {
        case .file(let p):
            path = p
            opened = archive_read_open_filename(raw, p, 1 << 20)
        case .feed(let f):
            path = f.path
            feed = f
            feedBuffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 16)
            opened = archive_read_open(raw, me, nil, { _, context, out in
                let stream = Unmanaged<ArchiveStream>.fromOpaque(context!).takeUnretainedValue()
                return stream.pullFeed(out)
            }, nil)
        }
        guard opened == ARCHIVE_OK else {
            throw WarrenError(.invalidArgument, "cannot read layer \(path): \(Self.message(raw))")
        }
        var entry: OpaquePointer?
        guard archive_read_next_header(raw, &entry) == ARCHIVE_OK else {
            throw WarrenError(.invalidArgument, "cannot decompress layer \(path): \(Self.message(raw))")
        }
        let tarOpened = archive_read_open(tar, me, nil, { _, context, out in
            let stream = Unmanaged<ArchiveStream>.fromOpaque(context!).takeUnretainedValue()
            let n = stream.pull()
            out?.pointee = stream.chunk
            return n
        }, nil)
        guard tarOpened == ARCHIVE_OK else {
            throw WarrenError(.invalidArgument, "layer \(path) is not a tar archive: \(Self.message(tar))")
        }
    }

    deinit {
        archive_read_free(tar)
        archive_read_free(raw)
        buffer.deallocate()
        feedBuffer?.deallocate()
    }

    /// The raw reader's callback for a download: the next compressed bytes, or -1 with
    /// the download's error.
    private func pullFeed(_ out: UnsafeMutablePointer<UnsafeRawPointer?>?) -> Int {
        guard let feed, let feedBuffer else { return -1 }
        do {
            let n = try feed.read(into: feedBuffer, count: bufferSize, at: feedOffset)
            feedOffset += Int64(n)
            out?.pointee = UnsafeRawPointer(feedBuffer)
            return n
        } catch {
            failure = "download failed: \(error)"
            return -1
        }
    }

    /// Next entry, or nil at the end of the archive.
    func nextEntry() throws -> OpaquePointer? {
        var entry: OpaquePointer?
        let r = archive_read_next_header(tar, &entry)
        if r == ARCHIVE_EOF { return nil }
        if r < ARCHIVE_WARN { throw WarrenError(.invalidArgument, "layer is not a valid tar stream: \(failure ?? Self.message(tar))") }
        return entry
    }

    /// Reads what follows the tar's end marker too, so the digest covers every byte.
    func finish() throws -> Digest {
        while true {
            let n = pull()
            if n == 0 { break }
            if n < 0 { throw WarrenError(.invalidArgument, "layer is truncated or corrupt: \(failure ?? "read error")") }
        }
        return hasher.finalize()
    }

    /// One chunk of decompressed bytes into `buffer`, hashed; 0 at the end, -1 on error.
    func pull() -> Int {
        let n = archive_read_data(raw, buffer, bufferSize)
        if n < 0 {
            failure = failure ?? Self.message(raw)
            return -1
        }
        hasher.update(UnsafeRawBufferPointer(start: buffer, count: n))
        uncompressedBytes += Int64(n)
        return n
    }

    var chunk: UnsafeRawPointer { UnsafeRawPointer(buffer) }

    static func message(_ a: OpaquePointer) -> String {
        archive_error_string(a).map { String(cString: $0) } ?? "unknown libarchive error"
    }
}
