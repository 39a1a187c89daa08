#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Hummingbird
import ImageStore
import LinuxSupport
import NIOCore
import WarrenCore

/// Image import and export: archives streamed in the request or the response, or (on the
/// Unix socket only) host paths the client itself may read or write.
extension APIRouter {
    /// Largest archive an import may upload.
    static let maxImportBytes: Int64 = 64 << 30

    static func addImageTransferRoutes(to router: Router<DaemonRequestContext>, _ deps: Dependencies) {
        let manager = deps.manager
        router.post("/v1/images/import") { request, context in
            let store = try manager.imageStore()
            if request.headers[.contentType]?.hasPrefix("application/json") == true {
                let body = try await request.decodeJSON(ImageImportRequest.self, context: context)!
                try await checkHostPath(body.path, .read, deps: deps, context: context)
                let platform = try body.platform.map(Platform.init(parsing:)) ?? .host
                let tags = try await uncancellable { try await store.importImage(path: body.path, tag: body.tag, platform: platform) }
                return try HTTPBody.json(ImageChanges(tags: tags, lines: tags.map { "Loaded image: \($0)" }))
            }
            // The archive itself (an OCI layout or `docker save` tar) is the body.
            let query = request.uri.queryParameters
            let tag = query["tag"].map(String.init)
            if let tag { try InputRules.text(tag, "tag", maxBytes: 512, allowEmpty: false) }
            let platform = try query["platform"].map { try Platform(parsing: String($0)) } ?? .host
            let upload = try await receiveArchive(request.body, into: deps.dataRoot + "/content/ingest")
            defer { unlink(upload) }
            let tags = try await uncancellable { try await store.importImage(path: upload, tag: tag, platform: platform) }
            return try HTTPBody.json(ImageChanges(tags: tags, lines: tags.map { "Loaded image: \($0)" }))
        }
        router.post("/v1/images/{ref}/export") { request, context in
            let store = try manager.imageStore()
            if let body = try await request.decodeJSON(ImageExportRequest.self, context: context, optional: true) {
                try await checkHostPath(body.path, .write, deps: deps, context: context)
                try await store.export(try context.imageReference(), to: body.path)
                return try HTTPBody.json(ImageChanges(lines: ["Exported to \(body.path)"]))
            }
            // No body: the layout comes back as a tar stream.
            let reference = try context.imageReference()
            await store.acquireLease()
            let entries: [ImageStore.LayoutEntry]
            do { entries = try await store.exportLayout(reference) } catch {
                await store.releaseLease()
                throw error
            }
            return Response(status: .ok, headers: [.contentType: "application/x-tar"], body: ResponseBody { writer in
                defer { Task { await store.releaseLease() } }
                for entry in entries {
                    try await writer.write(ByteBuffer(bytes: try TarFormat.header(.init(name: entry.name, size: entry.size, mode: 0o644, type: .file))))
                    switch entry.content {
                    case .bytes(let bytes): try await writer.write(ByteBuffer(bytes: bytes))
                    case .file(let path, _): try await streamFile(path, to: &writer)
                    }
                    try await writer.write(ByteBuffer(bytes: TarFormat.padding(entry.size)))
                }
                try await writer.write(ByteBuffer(bytes: TarFormat.trailer))
                try await writer.finish(nil)
            })
        }
    }

    /// A host path is refused over TCP, and on the socket checked against the peer's rights.
    static func checkHostPath(_ path: String, _ want: PeerPathAccess.Want, deps: Dependencies, context: DaemonRequestContext) async throws {
        guard deps.acceptsHostPaths else {
            throw WarrenError(.forbidden, "host paths are not accepted over TCP: send the archive as the request body (Content-Type: application/x-tar), or export without a body to receive one")
        }
        try InputRules.absolutePath(path, "path")
        try await PeerPathAccess.of(context.channel).check(path, want)
    }

    /// Writes the request body to a new file under `directory`; returns its path.
    static func receiveArchive(_ body: RequestBody, into directory: String) async throws -> String {
        try makeDirectories(directory, mode: 0o700)
        let path = directory + "/upload-\(UUID().uuidString).tar"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw WarrenError(.internalError, "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var total: Int64 = 0
        do {
            for try await buffer in body {
                total += Int64(buffer.readableBytes)
                guard total <= maxImportBytes else {
                    throw WarrenError(.payloadTooLarge, "an imported archive may hold at most \(maxImportBytes >> 30) GiB")
                }
                try buffer.withUnsafeReadableBytes { bytes in
                    do { try writeAll(fd, bytes) } catch let e as SyscallError where e.errno == ENOSPC || e.errno == EDQUOT {
                        throw WarrenError(.insufficientStorage, "no space left for the uploaded archive under \(directory)")
                    }
                }
            }
        } catch {
            unlink(path)
            throw error
        }
        guard total > 0 else {
            unlink(path)
            throw WarrenError(.invalidArgument, "the request body is empty: send an OCI layout or docker save tar")
        }
        return path
    }

    static func streamFile(_ path: String, to writer: inout some ResponseBodyWriter) async throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WarrenError(.internalError, "cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw WarrenError(.internalError, "reading \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { return }
            try await writer.write(ByteBuffer(bytes: chunk[0..<n]))
        }
    }
}
