import Foundation

/// A regular account of this host (uid and primary group in 1000–60000), for tests of
/// what belongs to a user; one is made when the host has none.
public enum TestAccount {
    public static let regular: (uid: uid_t, gid: gid_t) = {
        func find() -> (uid_t, gid_t)? {
            let passwd = (try? String(contentsOfFile: "/etc/passwd", encoding: .utf8)) ?? ""
            for line in passwd.split(separator: "\n") {
                let f = line.split(separator: ":", omittingEmptySubsequences: false)
                if f.count >= 4, let u = UInt32(f[2]), let g = UInt32(f[3]), (1000...60000).contains(u), (1000...60000).contains(g) {
                    return (u, g)
                }
            }
            return nil
        }
        if let found = find() { return found }
        _ = try? TestRootfs.run(blocking: "/usr/sbin/useradd", ["--no-create-home", "warren-test-owner"])
        return find() ?? (1000, 1000)
    }()
}
