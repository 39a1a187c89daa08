import ArgumentParser
import Foundation
import ImageStore
import WarrenClient
import WarrenCore

/// `warren pull [--platform P] [--json] [-q] REF`.
struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pull", abstract: "Pull an image from a registry.")

    @OptionGroup var client: ClientOptions
    @Option(help: "Platform os/arch[/variant] to pull from a multi-platform image (default: this host's).") var platform: String?
    @Flag(help: "Print progress as NDJSON.") var json = false
    @Flag(name: .shortAndLong, help: "Print only the image reference at the end.") var quiet = false
    @Argument(help: "Image reference, e.g. registry:5000/team/agent:1.2 or busybox@sha256:…") var image: String

    func run() async throws {
        let ref = try ImageReference(parsing: image)
        // Like docker: the user's own login for that registry goes with the request.
        let logins = try RegistryCredentialStore.dockerConfig(at: RegistryCredentialStore.defaultDockerConfigPath)
        let auth = logins.credential(for: ref.registry).map { PullCredential(username: $0.username, password: $0.password) }
        let progress = try await client.client().pullImage(ImagePullRequest(reference: image, platform: platform, auth: auth))
        var view = PullProgressView(mode: json ? .json : quiet ? .quiet : Terminal.isTerminal(STDOUT_FILENO) ? .bars : .lines)
        for try await event in progress { try view.show(event) }
        view.finish()
    }
}

/// Renders pull progress: live bars on a terminal, one line per layer step otherwise,
/// NDJSON under `--json`.
struct PullProgressView {
    enum Mode { case bars, lines, json, quiet }
    let mode: Mode
    private var order: [String] = []
    private var layers: [String: (status: PullProgress.Status, current: Int64, total: Int64, downloading: Bool)] = [:]
    private var drawn = 0
    private var lastDraw = ContinuousClock.now - .seconds(1)
    private var reference = ""
    private var digest = ""
    private var fresh = false

    init(mode: Mode) { self.mode = mode }

    mutating func show(_ event: PullProgress) throws {
        if mode == .json { return try Output.jsonLine(event) }
        switch event.status {
        case .resolved:
            reference = event.reference ?? ""
            order = event.layers ?? []
            if mode != .quiet { Output.line("Pulling \(reference)") }
        case .done:
            digest = event.digest ?? ""
        default:
            guard let layer = event.layer else { return }
            var entry = layers[layer] ?? (.waiting, 0, event.total ?? 0, false)
            let before = entry.status
            if event.status == .downloading {
                entry.current = event.current ?? entry.current
                entry.downloading = true
                if entry.status == .waiting { entry.status = .downloading }
            } else {
                entry.status = event.status
            }
            if event.status == .complete || event.status == .extracting { fresh = true }
            layers[layer] = entry
            if mode == .lines, entry.status != before { Output.line("\(Self.short(layer)): \(Self.label(entry.status))") }
        }
        if mode == .bars { redraw(force: event.status != .downloading) }
    }

    mutating func finish() {
        if mode == .json { return }
        if mode == .bars { redraw(force: true) }
        if mode == .quiet { return Output.line(reference) }
        Output.line("Digest: \(digest)")
        Output.line(fresh ? "Status: Downloaded newer image for \(reference)" : "Status: Image is up to date for \(reference)")
        Output.line(reference)
    }

    private mutating func redraw(force: Bool) {
        let now = ContinuousClock.now
        guard force || now - lastDraw >= .milliseconds(100) else { return }
        lastDraw = now
        var out = drawn > 0 ? "\u{1B}[\(drawn)A" : ""
        for layer in order {
            let e = layers[layer] ?? (.waiting, 0, 0, false)
            // A layer unpacks while it downloads: the bar shows until the last byte.
            let done = e.status == .complete || e.status == .exists
            if !done && e.downloading && e.current < e.total {
                out += "\u{1B}[2K\(Self.short(layer)): Downloading " + Self.bar(e.current, e.total)
            } else {
                out += "\u{1B}[2K\(Self.short(layer)): \(Self.label(e.status))"
            }
            out += "\n"
        }
        drawn = order.count
        Output.writeAll(STDOUT_FILENO, Array(out.utf8))
    }

    static func short(_ digest: String) -> String { String(digest.dropFirst(7).prefix(12)) }

    static func label(_ status: PullProgress.Status) -> String {
        switch status {
        case .waiting: "Waiting"
        case .downloading: "Downloading"
        case .extracting: "Extracting"
        case .complete: "Pull complete"
        case .exists: "Already exists"
        default: status.rawValue
        }
    }

    static func bar(_ current: Int64, _ total: Int64) -> String {
        let width = 30
        let filled = total > 0 ? Int(Double(width) * Double(min(current, total)) / Double(total)) : 0
        let arrow = filled < width ? ">" : ""
        let body = String(repeating: "=", count: max(filled - arrow.count, 0)) + arrow
        return "[" + body.padding(toLength: width, withPad: " ", startingAt: 0) + "] "
            + ImagesCommand.size(current) + "/" + ImagesCommand.size(total)
    }
}
