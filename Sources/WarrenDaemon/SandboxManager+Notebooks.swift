import Foundation
import LinuxSupport
import WarrenCore

extension SandboxManager {
    /// The spec the driver gets for a notebook sandbox: the launcher's environment (with
    /// Jupyter's token, which the stored spec never holds) and the directory shared for
    /// Jupyter's socket.
    func withNotebook(_ id: String, _ spec: SandboxSpec) async throws -> SandboxSpec {
        guard spec.notebook, let notebooks else { return spec }
        let (env, mount) = try notebooks.prepareGuest(id)
        var guest = spec
        let names = Set(env.map { String($0.prefix { $0 != "=" }) })
        guest.env = spec.env.filter { !names.contains(String($0.prefix { $0 != "=" })) } + env
        guest.mounts = spec.mounts.filter { $0.destination != mount.destination } + [mount]
        await notebooks.opened(id)
        return guest
    }

    /// A one-time link to a running notebook sandbox, once its Jupyter accepts
    /// connections (it waits up to `readiness` for a sandbox just started).
    /// `baseURL` is the daemon's TCP listener, where notebooks are served.
    public func notebookLink(_ reference: String, baseURL: String?, readiness: Duration = .seconds(60)) async throws -> NotebookLink {
        let info = try await store.sandboxes.resolve(reference)
        guard info.spec.notebook, let notebooks else {
            throw WarrenError(.invalidArgument, "sandbox \(info.shortID) runs no notebook: start one with `warren run --notebook IMAGE`")
        }
        guard let baseURL else {
            throw WarrenError(.unavailable, "notebooks are served on the daemon's TCP listener, and this daemon has none: start it with --listen 127.0.0.1:PORT")
        }
        let socket = notebooks.socketPath(info.id)
        let deadline = ContinuousClock.now + readiness
        while true {
            let state = try await current(info.id).state
            guard state == .running else {
                throw WarrenError(.invalidState, "sandbox \(info.shortID) is \(state.rawValue): its notebook is not served")
            }
            if let fd = try? UnixSockets.connect(to: socket) {
                close(fd)
                break
            }
            guard ContinuousClock.now < deadline else {
                throw WarrenError(.timeout, "the notebook server in sandbox \(info.shortID) did not start listening within \(readiness); see `warren logs \(info.shortID)`")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let (ticket, expires) = await notebooks.issueTicket(info.id)
        let path = NotebookPaths.prefix(info.id) + "?\(NotebookGateway.ticketParameter)=\(ticket)"
        return NotebookLink(id: info.id, path: path, url: baseURL + path, expiresAt: expires)
    }
}
