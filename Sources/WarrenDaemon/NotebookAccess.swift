import Crypto
import Foundation
import Logging
import WarrenCore

/// Who may open which notebook, and what each notebook sandbox is given.
///
/// - Jupyter's token for a sandbox is derived from a key the daemon keeps in its data
///   root, so it survives daemon restarts and is never stored with the sandbox.
/// - A one-time link carries a ticket; redeeming it once, within a few minutes, gives a
///   session bound to that sandbox (the browser's cookie). Only hashes are held, and
///   only in memory: a restarted daemon asks users for a new link.
public actor NotebookAccess {
    struct Grant {
        let sandbox: String
        let expires: Date
    }

    static let ticketLifetime: TimeInterval = 5 * 60
    static let sessionLifetime: TimeInterval = 12 * 3600
    /// The cookie a redeemed link sets, scoped to the sandbox's `/notebooks/<id>/`.
    public static let cookieName = "warren-notebook"

    let dataRoot: String
    private let key: SymmetricKey
    private var tickets: [String: Grant] = [:]
    private var sessions: [String: Grant] = [:]
    /// Notebook sandboxes that run, and those that did (their URLs answer 410).
    private var running: Set<String> = []
    private var ended: Set<String> = []

    /// Whether a notebook URL leads anywhere.
    public enum Availability: Sendable { case running, ended, unknown }

    /// Loads (or makes, mode 0600) `<dataRoot>/notebook.key`.
    public init(dataRoot: String) throws {
        self.dataRoot = dataRoot
        key = try Self.loadKey(dataRoot + "/notebook.key")
    }

    // MARK: - What a notebook sandbox gets

    /// Jupyter's token for `sandbox`: HMAC of its id under the daemon's key.
    public nonisolated func jupyterToken(_ sandbox: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(sandbox.utf8), using: key)
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// The host directory shared with the sandbox at `NotebookPaths.guestDirectory`.
    public nonisolated func hostDirectory(_ sandbox: String) -> String {
        dataRoot + "/notebooks/" + sandbox.prefix(24)
    }

    /// Jupyter's socket as the daemon reaches it.
    public nonisolated func socketPath(_ sandbox: String) -> String {
        hostDirectory(sandbox) + "/jupyter.sock"
    }

    /// Makes the shared directory and returns what the guest needs: the launcher's
    /// environment and the mount of that directory.
    public nonisolated func prepareGuest(_ sandbox: String) throws -> (env: [String], mount: MountSpec) {
        let directory = hostDirectory(sandbox)
        try WarrenDaemon.makeDirectory(dataRoot + "/notebooks")
        try WarrenDaemon.makeDirectory(directory)
        // The guest's user (any uid the image picks) creates Jupyter's socket here; the
        // data root above it stays 0700, so no other host user reaches it.
        guard chmod(directory, 0o777) == 0 else {
            throw WarrenError(.internalError, "cannot open \(directory) to the sandbox: \(String(cString: strerror(errno)))")
        }
        unlink(socketPath(sandbox))
        let env = [
            "WARREN_NOTEBOOK_SOCKET=\(NotebookPaths.guestSocket)",
            "WARREN_NOTEBOOK_BASE_URL=\(NotebookPaths.prefix(sandbox))",
            "JUPYTER_TOKEN=\(jupyterToken(sandbox))",
        ]
        return (env, MountSpec(source: directory, destination: NotebookPaths.guestDirectory, managed: true))
    }

    // MARK: - Links and sessions

    /// A new one-time ticket for `sandbox`, and when it expires.
    public func issueTicket(_ sandbox: String) -> (ticket: String, expires: Date) {
        prune()
        let ticket = "wrn_nbt_" + Self.randomToken()
        let expires = Date().addingTimeInterval(Self.ticketLifetime)
        tickets[Self.hash(ticket)] = Grant(sandbox: sandbox, expires: expires)
        return (ticket, expires)
    }

    /// Spends `ticket` (whatever the outcome) and returns a new session for `sandbox`,
    /// or nil when the ticket is unknown, used, expired or for another sandbox.
    public func redeem(_ ticket: String, for sandbox: String) -> String? {
        prune()
        guard let grant = tickets.removeValue(forKey: Self.hash(ticket)), grant.sandbox == sandbox else { return nil }
        let session = "wrn_nbs_" + Self.randomToken()
        sessions[Self.hash(session)] = Grant(sandbox: sandbox, expires: Date().addingTimeInterval(Self.sessionLifetime))
        return session
    }

    /// Whether the sandbox's notebook is served, and whether one of `sessions` (the
    /// request's cookie values) is a live session for it.
    public func admission(_ sandbox: String, sessions: [String]) -> (Availability, Bool) {
        (availability(sandbox), sessions.contains { isSession($0, for: sandbox) })
    }

    /// Whether `session` is a live session for `sandbox`.
    public func isSession(_ session: String, for sandbox: String) -> Bool {
        guard let grant = sessions[Self.hash(session)] else { return false }
        return grant.sandbox == sandbox && grant.expires > Date()
    }

    /// Marks a notebook sandbox as running (at create, and when a restarted daemon re-adopts it).
    public func opened(_ sandbox: String) {
        running.insert(sandbox)
        ended.remove(sandbox)
    }

    public func availability(_ sandbox: String) -> Availability {
        running.contains(sandbox) ? .running : ended.contains(sandbox) ? .ended : .unknown
    }

    /// Ends every ticket and session of a sandbox that stopped or was removed, and
    /// removes its shared directory.
    public func close(_ sandbox: String) {
        if running.remove(sandbox) != nil { ended.insert(sandbox) }
        tickets = tickets.filter { $0.value.sandbox != sandbox }
        sessions = sessions.filter { $0.value.sandbox != sandbox }
        let directory = hostDirectory(sandbox)
        unlink(directory + "/jupyter.sock")
        rmdir(directory)
    }

    private func prune() {
        let now = Date()
        tickets = tickets.filter { $0.value.expires > now }
        sessions = sessions.filter { $0.value.expires > now }
    }

    // MARK: - Pieces

    /// 256 random bits, base64url without padding.
    static func randomToken() -> String {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        return bytes.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Lookups are by hash, so the table never holds a usable secret and a lookup
    /// reveals nothing about near misses.
    static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func loadKey(_ path: String) throws -> SymmetricKey {
        if let data = FileManager.default.contents(atPath: path), data.count == 32 {
            return SymmetricKey(data: data)
        }
        let key = SymmetricKey(size: .bits256)
        let data = key.withUnsafeBytes { Data($0) }
        let partial = path + ".partial"
        guard FileManager.default.createFile(atPath: partial, contents: data, attributes: [.posixPermissions: 0o600]),
              rename(partial, path) == 0 else {
            throw WarrenError(.internalError, "cannot write the notebook key \(path)")
        }
        return key
    }
}
