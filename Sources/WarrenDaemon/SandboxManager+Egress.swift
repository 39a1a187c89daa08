import Foundation
import WarrenCore

// MARK: - Egress: the proxy a sandbox reaches hosts through

extension SandboxManager {
    /// The spec the driver gets with egress: the proxy is served and the guest's
    /// environment names it for every scheme.
    func withEgress(_ id: String, _ spec: SandboxSpec) async throws -> SandboxSpec {
        guard let access = spec.egress, let egress else { return spec }
        let (env, relay, mounts) = try await egress.open(id: id, access: access)
        let names = Set(env.map { String($0.prefix { $0 != "=" }) })
        var guest = spec
        guest.env = spec.env.filter { !names.contains(String($0.prefix { $0 != "=" })) } + env
        guest.relays.append(relay)
        guest.mounts += mounts
        return guest
    }

    /// A sandbox's egress access as it stands and the connections its proxy recorded.
    public func egressInfo(_ reference: String) async throws -> SandboxEgress {
        let info = try await store.sandboxes.resolve(reference)
        await egress?.recorder.flush()
        return SandboxEgress(id: info.id, name: info.name, access: info.spec.egress,
                             bytesUsed: try await store.egress.bytesUsed(sandboxID: info.id),
                             connections: try await store.egress.connections(sandboxID: info.id))
    }

    /// Allows or denies patterns on a sandbox that has egress; a running proxy follows
    /// the change from its next connection, and the row keeps it for a restart.
    public func changeEgress(_ reference: String, _ change: EgressChange) async throws -> SandboxEgress {
        guard let egress else { throw WarrenError(.unavailable, "this daemon serves no egress proxy") }
        guard !change.allow.isEmpty || !change.deny.isEmpty else {
            throw WarrenError(.invalidArgument, "name at least one pattern to allow or deny")
        }
        try InputRules.count(change.allow + change.deny, "patterns", max: 1024)
        let info = try await store.sandboxes.resolve(reference)
        guard let access = info.spec.egress else {
            throw WarrenError(.invalidState, "sandbox \(info.shortID) was created without egress (run it with --allow-host or --egress-preset); its guest has no proxy to change")
        }
        let changed = access.allowing(change.allow).denying(change.deny)
        try changed.validate()
        let stored = try await store.sandboxes.modify(id: info.id) { row in
            guard row.spec.egress == access else {
                throw WarrenError(.conflict, "the egress of sandbox \(info.shortID) changed meanwhile; try again")
            }
            row.spec.egress = changed
        }
        if stored.state.isActive { try await egress.update(info.id, access: changed) }
        logger.with(info.id).info("egress changed", metadata: ["allow": "\(change.allow)", "deny": "\(change.deny)"])
        return try await egressInfo(info.id)
    }
}
