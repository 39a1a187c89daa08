import Foundation

/// A one-time link to a sandbox's notebook (`warren notebook ID`).
///
/// Visiting it once signs the browser in to that sandbox's notebook only: it becomes a
/// cookie scoped to `/notebooks/<id>/`, and the link stops working.
public struct NotebookLink: Codable, Sendable, Equatable {
    /// The sandbox's full id.
    public var id: String
    /// Path and query of the link, valid on the daemon's TCP listener.
    public var path: String
    /// The full URL, from the daemon's TCP listener address.
    public var url: String
    /// When the link stops working if nobody used it.
    public var expiresAt: Date

    public init(id: String, path: String, url: String, expiresAt: Date) {
        self.id = id; self.path = path; self.url = url; self.expiresAt = expiresAt
    }
}

/// Where notebooks live, shared by the daemon, the launcher's environment and the guest.
public enum NotebookPaths {
    /// The URL prefix of a sandbox's notebook, which is also Jupyter's `base_url`.
    public static func prefix(_ id: String) -> String { "/notebooks/\(id)/" }
    /// The guest directory the daemon shares with the sandbox for Jupyter's socket.
    public static let guestDirectory = "/run/warren-notebook"
    /// Jupyter's socket inside the guest.
    public static let guestSocket = guestDirectory + "/jupyter.sock"
    /// The launcher `run --notebook` starts when no command is given (`runtime/notebook`).
    public static let launcher = "warren-notebook"
}
