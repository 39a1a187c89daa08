#if canImport(Glibc)
import Glibc
#endif
import RuntimeDriver
import WarrenCore

extension NativeDriver {
    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// Refuses, before anything is made, a command the root file system does not have
    /// and a user name its passwd file does not know, with the errors Docker gives.
    public func preflight(spec: SandboxSpec) async throws {
        guard let layers = spec.resolvedImage?.layers ?? spec.rootfs.map({ [$0] }), !layers.isEmpty,
              let program = spec.command.first else { return }
        let root = LayeredRoot(layers: layers, mounts: spec.mounts)
        try Self.checkProgram(program, in: root, env: spec.env, workdir: spec.workdir ?? "/")
        if let user = spec.user { try Self.checkUser(user, in: root) }
    }

    static func checkProgram(_ program: String, in root: LayeredRoot, env: [String], workdir: String) throws {
        if program.contains("/") {
            let path = program.hasPrefix("/") ? program : workdir + "/" + program
            guard let found = root.resolve(path) else {
                throw WarrenError(.commandNotFound, "exec: \"\(program)\": stat \(path): no such file or directory")
            }
            guard isExecutableFile(found.st) else {
                throw WarrenError(.commandNotFound, "exec: \"\(program)\": permission denied (not an executable file)")
            }
            return
        }
        let path = env.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? defaultPath
        for dir in path.split(separator: ":") where dir.hasPrefix("/") {
            if let found = root.resolve(dir + "/" + program), isExecutableFile(found.st) { return }
        }
        throw WarrenError(.commandNotFound, "exec: \"\(program)\": executable file not found in $PATH")
    }

    static func isExecutableFile(_ st: stat) -> Bool {
        (st.st_mode & S_IFMT) == S_IFREG && (st.st_mode & 0o111) != 0
    }

    /// A user or group given by name must be in the image's passwd or group file.
    static func checkUser(_ user: String, in root: LayeredRoot) throws {
        let parts = user.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        func named(_ file: String, _ name: String) -> Bool {
            (root.read(file) ?? "").split(separator: "\n").contains { $0.split(separator: ":").first.map(String.init) == name }
        }
        if let name = parts.first, UInt32(name) == nil, !named("/etc/passwd", name) {
            throw WarrenError(.invalidArgument, "unable to find user \(name): no matching entries in passwd file")
        }
        if parts.count == 2, UInt32(parts[1]) == nil, !named("/etc/group", parts[1]) {
            throw WarrenError(.invalidArgument, "unable to find group \(parts[1]): no matching entries in group file")
        }
    }
}
