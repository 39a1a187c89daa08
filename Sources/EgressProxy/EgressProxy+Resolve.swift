import Foundation
import LinuxSupport
import WarrenCore

extension EgressProxy {
    /// The host's resolver (getaddrinfo), on a thread of its own.
    public static let systemResolve: @Sendable (String) async throws -> [IPAddress] = { host in
        try await runBlocking {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(host, nil, &hints, &result)
            guard rc == 0, let first = result else {
                throw WarrenError(.notFound, String(cString: gai_strerror(rc)))
            }
            defer { freeaddrinfo(first) }
            var out: [IPAddress] = []
            var node: UnsafeMutablePointer<addrinfo>? = first
            while let n = node {
                if let sa = n.pointee.ai_addr {
                    if n.pointee.ai_family == AF_INET {
                        var a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                        let b = withUnsafeBytes(of: &a) { Array($0) }
                        if let ip = IPAddress(bytes: b), !out.contains(ip) { out.append(ip) }
                    } else if n.pointee.ai_family == AF_INET6 {
                        var a = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                        let b = withUnsafeBytes(of: &a) { Array($0) }
                        if let ip = IPAddress(bytes: b), !out.contains(ip) { out.append(ip) }
                    }
                }
                node = n.pointee.ai_next
            }
            return out
        }
    }
}
