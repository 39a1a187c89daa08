#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Foundation
import WarrenCore

// MARK: - The daemon's services (LLM facade, egress proxy) on the container's loopback

extension DockerDriver {
    /// The relays a container was created with, from its label.
    static func relays(of container: DockerContainer) -> [GuestRelay] {
        guard let text = container.Config?.Labels?[DockerContainerPlan.relaysLabel],
              let relays = try? WarrenJSON.decoder().decode([GuestRelay].self, from: Data(text.utf8)) else { return [] }
        return relays
    }

    /// Listens on the running container's own loopback (its network namespace, entered by
    /// a short-lived thread) and relays each connection to the daemon's service socket.
    /// The container needs no network for it, and reaches nothing else of the host.
    func ensureRelay(_ id: String, container: DockerContainer) throws {
        let wanted = Self.relays(of: container)
        guard relays[id] == nil, !wanted.isEmpty else { return }
        guard container.State.Running == true, let pid = container.State.Pid, pid > 0 else { return }
        try startRelays(id, wanted, pid: Int(pid), nameServer: Self.hasNameServer(container))
    }

    /// Starts the sandbox's namespace holder, when it has one, and the relay in its
    /// namespace: the workload, started next, finds the facade there from its first instant.
    func startNetnsHolder(_ id: String, engine: DockerClient) async throws {
        let holder = DockerContainerPlan.holderName(id)
        guard let workload = try await engine.inspectContainer(container(id)), !Self.relays(of: workload).isEmpty,
              try await engine.inspectContainer(holder) != nil else { return }
        try await engine.startContainer(holder)
        guard let running = try await engine.inspectContainer(holder), running.State.Running == true,
              let pid = running.State.Pid, pid > 0 else {
            throw WarrenError(.internalError, "the network holder of sandbox \(id.prefix(12)) did not start")
        }
        do {
            try startRelays(id, Self.relays(of: workload), pid: Int(pid), nameServer: Self.hasNameServer(workload))
        } catch {
            _ = try? await engine.killContainer(holder, signal: SIGKILL)
            throw error
        }
    }

    /// Stops the holder once the workload has ended: the namespace has no one else to serve.
    func stopNetnsHolder(_ id: String, engine: DockerClient) async {
        do { try await engine.killContainer(DockerContainerPlan.holderName(id), signal: SIGKILL) } catch {
            // Not there (no relays, or removed) or not running: nothing to stop.
        }
    }

    static func hasNameServer(_ container: DockerContainer) -> Bool {
        container.Config?.Labels?[DockerContainerPlan.nameServerLabel] != nil
    }

    private func startRelays(_ id: String, _ wanted: [GuestRelay], pid: Int, nameServer: Bool) throws {
        guard relays[id] == nil else { return }
        let namespace = "/proc/\(pid)/ns/net"
        if nameServer, nameServers[id] == nil {
            // Its resolv.conf names this: every lookup but /etc/hosts' fails at once.
            let dns = warren_dns_socket_in_netns(namespace)
            if dns >= 0, warren_dns_refuser_start(dns) == 0 {
                nameServers[id] = dns
            } else {
                if dns >= 0 { close(dns) }
                logger.warning("no name server on the container's loopback: \(String(cString: strerror(errno)))", metadata: ["sandbox": "\(id.prefix(12))"])
            }
        }
        var started: [Int32] = []
        for relay in wanted {
            let listener = warren_listen_loopback_in_netns(namespace, relay.port)
            guard listener >= 0 else {
                let message = String(cString: strerror(errno))
                started.forEach { _ = warren_relay_stop($0) }
                throw WarrenError(.unavailable, "cannot listen on the container's loopback port \(relay.port) (\(namespace): \(message)); the daemon must share the Docker engine's pid namespace")
            }
            let directory = (relay.socketPath as NSString).deletingLastPathComponent
            let name = (relay.socketPath as NSString).lastPathComponent
            guard warren_relay_start(listener, directory, name) == 0 else {
                let message = String(cString: strerror(errno))
                close(listener)
                started.forEach { _ = warren_relay_stop($0) }
                throw WarrenError(.internalError, "cannot relay port \(relay.port) into the container: \(message)")
            }
            started.append(listener)
        }
        relays[id] = started
    }

    /// Stops accepting on the container's loopback.
    func stopRelay(_ id: String) {
        if let dns = nameServers.removeValue(forKey: id) { _ = warren_dns_refuser_stop(dns) }
        for listener in relays.removeValue(forKey: id) ?? [] { _ = warren_relay_stop(listener) }
    }
}
