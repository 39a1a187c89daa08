import ArgumentParser
import Foundation
import WarrenClient
import WarrenCore

/// `warren images [--json] [--digests] [-q]`.
struct ImagesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "images", abstract: "List images.")

    @OptionGroup var client: ClientOptions
    @Flag(help: "Show manifest digests.") var digests = false
    @Flag(name: .shortAndLong, help: "Only print image ids.") var quiet = false
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await Self.list(try client.client(), digests: digests, quiet: quiet, json: json)
    }

    /// Shared with `image ls`.
    static func list(_ warren: WarrenClient, digests: Bool, quiet: Bool, json: Bool) async throws {
        let images = try await warren.listImages()
        if json { return try Output.json(images) }
        if quiet { return Set(images.map { Self.shortID($0.id) }).sorted().forEach(Output.line) }
        var rows: [[String]] = []
        for image in images {
            for tag in image.tags.isEmpty ? ["<none>:<none>"] : image.tags {
                let (repo, t) = Self.split(tag)
                rows.append([repo, t] + (digests ? [image.digest] : []) + [Self.shortID(image.id), Self.size(image.size)])
            }
        }
        Output.table(["REPOSITORY", "TAG"] + (digests ? ["DIGEST"] : []) + ["IMAGE ID", "SIZE"], rows)
    }

    static func shortID(_ id: String) -> String { String(id.dropFirst(7).prefix(12)) }

    static func split(_ tag: String) -> (String, String) {
        guard let colon = tag.lastIndex(of: ":"), !tag[colon...].contains("/") else { return (tag, "<none>") }
        var repo = String(tag[..<colon])
        if repo.hasPrefix("docker.io/library/") { repo = String(repo.dropFirst(18)) }
        else if repo.hasPrefix("docker.io/") { repo = String(repo.dropFirst(10)) }
        return (repo, String(tag[tag.index(after: colon)...]))
    }

    static func size(_ bytes: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
        return unit == 0 ? "\(bytes)B" : String(format: "%.3g%@", value, units[unit])
    }
}

/// `warren rmi [-f] IMAGE...`.
struct RmiCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rmi", abstract: "Remove images.")

    @OptionGroup var client: ClientOptions
    @Flag(name: .shortAndLong, help: "Untag an image even when a sandbox uses it or it has several tags.") var force = false
    @Argument(help: "Image references or ids.") var images: [String]

    func run() async throws { try await Self.remove(images, force: force, with: try client.client()) }

    /// Shared with `image rm`.
    static func remove(_ images: [String], force: Bool, with warren: WarrenClient) async throws {
        try await eachReference(images, echo: false) { ref in
            for line in try await warren.removeImage(ref, force: force).lines { Output.line(line) }
        }
    }
}

/// `warren image inspect|import|export|prune|rm|ls`.
struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "Manage images.",
        subcommands: [Inspect.self, Import.self, Export.self, Prune.self, Remove.self, List.self])

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an image's details as JSON.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Image reference or id.") var image: String
        func run() async throws { try Output.json(try await client.client().inspectImage(image)) }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Import an OCI layout (directory or tar) or a docker save tar.")
        @OptionGroup var client: ClientOptions
        @Option(help: "Name the imported image (for an archive of one image).") var tag: String?
        @Option(help: "os/arch[/variant] to take from a multi-platform index (default: this host's).") var platform: String?
        @Flag(help: "Print JSON.") var json = false
        @Argument(help: "An OCI layout directory or tar, or a docker save tar; read by this command and sent to the daemon.") var path: String
        func run() async throws {
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory) else {
                throw WarrenError(.invalidArgument, "\(path) does not exist")
            }
            let archive = try isDirectory.boolValue ? ImageArchives.directory(absolute) : ImageArchives.file(absolute)
            let changes = try await client.client().importImage(archive: archive, tag: tag, platform: platform)
            if json { return try Output.json(changes) }
            changes.lines.forEach(Output.line)
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write an image as an OCI layout directory.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Image reference or id.") var image: String
        @Argument(help: "Directory to create (or an empty one), written by this command.") var path: String
        func run() async throws {
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            try await ImageArchives.extract(try await client.client().exportImage(image), into: absolute)
            Output.line("Exported to \(absolute)")
        }
    }

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove blobs and layers no image or sandbox uses.")
        @OptionGroup var client: ClientOptions
        @Flag(help: "Print JSON.") var json = false
        func run() async throws {
            let changes = try await client.client().pruneImages()
            if json { return try Output.json(changes) }
            changes.lines.forEach(Output.line)
            Output.line("Removed \(changes.lines.count) item(s)")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove images (as rmi).")
        @OptionGroup var client: ClientOptions
        @Flag(name: .shortAndLong) var force = false
        @Argument var images: [String]
        func run() async throws { try await RmiCommand.remove(images, force: force, with: try client.client()) }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List images (as images).")
        @OptionGroup var client: ClientOptions
        @Flag(help: "Show manifest digests.") var digests = false
        @Flag(name: .shortAndLong, help: "Only print image ids.") var quiet = false
        @Flag(help: "Print JSON.") var json = false
        func run() async throws {
            try await ImagesCommand.list(try client.client(), digests: digests, quiet: quiet, json: json)
        }
    }
}
