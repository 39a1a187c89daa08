#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import WarrenCore

/// An agent session's git worktree: a branch `warren/<session>` of the user's
/// repository, checked out under the repository's own git directory
/// (`.git/warren/worktrees/<session>`), so the user's checkout is never touched.
///
/// Git runs as the repository's owner, so what it writes there is theirs. It runs with
/// the worktree's git directory named explicitly, hooks and fsmonitor off: the worktree
/// is the agent's, and nothing in it (its `.git` file, config or hooks it writes) is
/// ever read as git's own or run.
public struct GitWorkspace: Codable, Sendable, Equatable {
    /// The repository's top directory (or the bare repository).
    public var repository: String
    /// The repository's common git directory.
    public var commonDir: String
    /// The worktree: what the sandbox mounts.
    public var path: String
    /// The worktree's own git directory, read when it was made.
    public var gitDir: String
    public var branch: String
    public var base: String
    /// The account git runs as; nil for root.
    public var ownerUID: UInt32?
    public var ownerGID: UInt32?
    public var ownerHome: String?

    public init(repository: String, commonDir: String, path: String, gitDir: String, branch: String, base: String,
                ownerUID: UInt32? = nil, ownerGID: UInt32? = nil, ownerHome: String? = nil) {
        self.repository = repository; self.commonDir = commonDir; self.path = path; self.gitDir = gitDir
        self.branch = branch; self.base = base; self.ownerUID = ownerUID; self.ownerGID = ownerGID; self.ownerHome = ownerHome
    }

    var identity: HostCommand.Identity? {
        guard let uid = ownerUID, let gid = ownerGID else { return nil }
        return HostCommand.Identity(uid: uid, gid: gid, home: ownerHome ?? "/")
    }

    /// Splits `PATH[@REF]`: a path that exists as given has no ref.
    public static func parse(_ text: String) -> (path: String, ref: String) {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: text, isDirectory: &isDir) { return (text, "HEAD") }
        guard let at = text.lastIndex(of: "@"), at != text.startIndex else { return (text, "HEAD") }
        let ref = String(text[text.index(after: at)...])
        return (String(text[..<at]), ref.isEmpty ? "HEAD" : ref)
    }

    /// Makes the worktree and its branch for `session` from `PATH[@REF]`.
    public static func create(from text: String, session: String, regular: RegularAccounts = .load()) async throws -> GitWorkspace {
        let (path, ref) = parse(text)
        guard path.hasPrefix("/") else { throw WarrenError(.invalidArgument, "repo must be an absolute path: \(path.prefix(200))") }
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw WarrenError(.invalidArgument, "repo \(path.prefix(200)) is not a directory")
        }
        var ws = GitWorkspace(repository: path, commonDir: "", path: "", gitDir: "", branch: "warren/\(session)", base: "")
        if st.st_uid != 0 {
            guard regular.uids.contains(st.st_uid), let home = Self.home(of: st.st_uid) else {
                throw WarrenError(.forbidden, "repo \(path.prefix(200)) belongs to system account \(st.st_uid); an agent works on a repository of root's or of a regular account")
            }
            ws.ownerUID = st.st_uid; ws.ownerGID = home.gid; ws.ownerHome = home.dir
        }
        guard let top = try? await ws.git(["-C", path, "rev-parse", "--path-format=absolute", "--git-common-dir"]) else {
            throw WarrenError(.invalidArgument, "\(path.prefix(200)) is not a git repository")
        }
        ws.commonDir = top
        ws.repository = (try? await ws.git(["-C", path, "rev-parse", "--show-toplevel"])) ?? path
        guard let base = try? await ws.git(["-C", path, "rev-parse", "--verify", "--end-of-options", "\(ref)^{commit}"]) else {
            throw WarrenError(.invalidArgument, "\(ref.prefix(200)) is not a commit of \(path.prefix(200))")
        }
        ws.base = base
        ws.path = top + "/warren/worktrees/" + session
        _ = try await ws.git(["-C", path, "worktree", "add", "--quiet", "-b", ws.branch, ws.path, base])
        let link = (try? String(contentsOfFile: ws.path + "/.git", encoding: .utf8)) ?? ""
        guard link.hasPrefix("gitdir: ") else { throw WarrenError(.internalError, "git made no worktree at \(ws.path)") }
        ws.gitDir = link.dropFirst("gitdir: ".count).trimmingCharacters(in: .whitespacesAndNewlines)
        return ws
    }

    /// Commits everything in the worktree on the branch; the new head, or nil when nothing changed.
    public func commit(message: String, author: String) async throws -> String? {
        _ = try await worktreeGit(["add", "-A"])
        let changed = try await HostCommand.run(["git"] + Self.safety + ["--git-dir=\(gitDir)", "--work-tree=\(path)",
                                                                          "diff", "--cached", "--quiet"],
                                                environment: environment(author: author), as: identity)
        guard changed.status == 1 else { return nil }
        _ = try await worktreeGit(["commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m", message], author: author)
        return try await worktreeGit(["rev-parse", "HEAD"])
    }

    /// The branch's changes from where it began, what is not committed yet included.
    public func diff() async throws -> String {
        try await worktreeGit(["diff", "--no-ext-diff", "--no-textconv", base], trim: false)
    }

    /// The branch's newest commit.
    public func head() async throws -> String { try await worktreeGit(["rev-parse", "HEAD"]) }

    /// Removes the worktree; the branch stays unless `deleteBranch`.
    public func remove(deleteBranch: Bool) async throws {
        if FileManager.default.fileExists(atPath: path) {
            try removeTree(path)
        }
        _ = try? await git(["-C", repository, "worktree", "prune"])
        if deleteBranch { _ = try await git(["-C", repository, "branch", "-D", "--end-of-options", branch]) }
    }

    /// Hands the worktree (every file in it) to `uid:gid`: the sandbox's own root where the
    /// repository is root's, so sandbox root can write it and never as host root.
    public func handOver(uid: UInt32, gid: UInt32) throws {
        do {
            try changeOwnerOfTree(path, uid: uid, gid: gid)
        } catch {
            throw WarrenError(.internalError, "cannot hand the worktree \(path) to the sandbox: \(error)")
        }
    }

    // MARK: - Running git

    /// Settings that keep git from running anything the worktree holds.
    static let safety = ["-c", "safe.directory=*", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
                         "-c", "core.sshCommand=false", "-c", "protocol.ext.allow=never"]

    func environment(author: String = "warren agent") -> [String] {
        ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=\(ownerHome ?? "/root")", "LC_ALL=C", "GIT_TERMINAL_PROMPT=0",
         "GIT_AUTHOR_NAME=\(author)", "GIT_AUTHOR_EMAIL=agent@warren.invalid",
         "GIT_COMMITTER_NAME=\(author)", "GIT_COMMITTER_EMAIL=agent@warren.invalid"]
    }

    func worktreeGit(_ args: [String], author: String = "warren agent", trim: Bool = true) async throws -> String {
        try await git(["--git-dir=\(gitDir)", "--work-tree=\(path)"] + args, author: author, trim: trim)
    }

    func git(_ args: [String], author: String = "warren agent", trim: Bool = true) async throws -> String {
        let out = try await HostCommand.run(["git"] + Self.safety + args, environment: environment(author: author), as: identity)
        guard out.status == 0 else {
            throw WarrenError(.invalidArgument, "git \(args.first { !$0.hasPrefix("-") } ?? ""): \(out.message)")
        }
        return trim ? out.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : out.stdout
    }

    /// The home directory and primary group of `uid` in /etc/passwd.
    static func home(of uid: UInt32) -> (dir: String, gid: UInt32)? {
        guard let pw = getpwuid(uid), let dir = pw.pointee.pw_dir else { return nil }
        return (String(cString: dir), pw.pointee.pw_gid)
    }
}
