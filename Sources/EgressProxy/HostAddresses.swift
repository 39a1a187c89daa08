#if canImport(Glibc)
import Glibc
#endif
import WarrenCore

/// The addresses of this host's own interfaces, which no sandbox reaches through its
/// egress proxy unless a block rule names them.
public enum HostAddresses {
    public static func current() -> Set<IPAddress> {
        var first: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&first) == 0, let first else { return [] }
        defer { freeifaddrs(first) }
        var out: Set<IPAddress> = []
        var node: UnsafeMutablePointer<ifaddrs>? = first
        while let n = node {
            if let sa = n.pointee.ifa_addr {
                if Int32(sa.pointee.sa_family) == AF_INET {
                    var a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                    if let ip = IPAddress(bytes: withUnsafeBytes(of: &a) { Array($0) }) { out.insert(ip) }
                } else if Int32(sa.pointee.sa_family) == AF_INET6 {
                    var a = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    if let ip = IPAddress(bytes: withUnsafeBytes(of: &a) { Array($0) }) { out.insert(ip) }
                }
            }
            node = n.pointee.ifa_next
        }
        return out
    }
}
