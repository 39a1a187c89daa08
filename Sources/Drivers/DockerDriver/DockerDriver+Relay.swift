#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Foundation
import WarrenCore

// MARK: - The LLM facade on the container's loopback

extension DockerDriver {
    /// The relay a container was created with, from its label.
    static func relay(of container: DockerContainer) -> GuestRelay? {
        guard let text = container.Config?.Labels?[DockerContainerPlan.facadeRelayLabel],
              let colon = text.firstIndex(of: ":"), let port = UInt16(text[..<colon]) else { return nil }
        return GuestRelay(port: port, socketPath: String(text[text.index(after: colon)...]))
    }

    /// Listens on the running container's own loopback (its network namespace, entered by
    /// a short-lived thread) and relays each connection to the daemon's facade socket.
    /// The container needs no network for it, and reaches nothing else of the host.
    func ensureRelay(_ id: String, container: DockerContainer) throws {
        guard relays[id] == nil, let relay = Self.relay(of: container) else { return }
        guard container.State.Running == true, let pid = container.State.Pid, pid > 0 else { return }
        try startRelay(id, relay: relay, pid: Int(pid), nameServer: Self.hasNameServer(container))
    }

    /// Starts the sandbox's namespace holder, when it has one, and the relay in its
    /// namespace: the workload, started next, finds the facade there from its first instant.
    func startNetnsHolder(_ id: String, engine: DockerClient) async throws {
        let holder = DockerContainerPlan.holderName(id)
        guard let workload = try await engine.inspectContainer(container(id)), let relay = Self.relay(of: workload),
              try await engine.inspectContainer(holder) != nil else { return }
        try await engine.startContainer(holder)
        guard let running = try await engine.inspectContainer(holder), running.State.Running == true,
              let pid = running.State.Pid, pid > 0 else {
            throw WarrenError(.internalError, "the network holder of sandbox \(id.prefix(12)) did not start")
        }
        do {
            try startRelay(id, relay: relay, pid: Int(pid), nameServer: Self.hasNameServer(workload))
        } catch {
            _ = try? await engine.killContainer(holder, signal: SIGKILL)
            throw error
        }
    }

    /// Stops the holder once the workload has ended: the namespace has no one else to serve.
    func stopNetnsHolder(_ id: String, engine: DockerClient) async {
        do { try await engine.killContainer(DockerContainerPlan.holderName(id), signal: SIGKILL) } catch {
            // Not there (no LLM access, or removed) or not running: nothing to stop.
        }
    }

    static func hasNameServer(_ container: DockerContainer) -> Bool {
        container.Config?.Labels?[DockerContainerPlan.nameServerLabel] != nil
    }

    private func startRelay(_ id: String, relay: GuestRelay, pid: Int, nameServer: Bool) throws {
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
        let listener = warren_listen_loopback_in_netns(namespace, relay.port)
        guard listener >= 0 else {
            throw WarrenError(.unavailable, "cannot listen on the container's loopback for the LLM facade (\(namespace): \(String(cString: strerror(errno)))); the daemon must share the Docker engine's pid namespace")
        }
        let directory = (relay.socketPath as NSString).deletingLastPathComponent
        let name = (relay.socketPath as NSString).lastPathComponent
        guard warren_relay_start(listener, directory, name) == 0 else {
            let message = String(cString: strerror(errno))
            close(listener)
            throw WarrenError(.internalError, "cannot relay the LLM facade into the container: \(message)")
        }
        relays[id] = listener
    }

    /// Stops accepting on the container's loopback.
    func stopRelay(_ id: String) {
        if let dns = nameServers.removeValue(forKey: id) { _ = warren_dns_refuser_stop(dns) }
        guard let listener = relays.removeValue(forKey: id) else { return }
        _ = warren_relay_stop(listener)
    }
}
