import Foundation
import LinuxSupport
import WarrenCore

/// The daemon's own bare clone of a remote repository, which an agent session's worktree
/// is made from and its branch pushed back to.
///
/// Git runs as the daemon's account with its `HOME`, so the host's git credentials
/// (credential helpers, ssh keys and config) fetch and push; none of them is in the
/// clone, and the sandbox only ever sees the worktree. Only the `https`, `http`, `ssh`
/// and `git` transports are allowed (never `file` or `ext`), nothing prompts, hooks and
/// fsmonitor are off, and each git run has a time limit.
public enum RemoteClone {
    /// How long a clone or a push may take.
    public static let timeout: Duration = .seconds(600)

    /// Clones `remote` bare into `directory` (which must not exist) and returns the
    /// `PATH@COMMIT` a worktree is made from. Nothing stays behind when it fails.
    public static func clone(_ remote: RepositoryURL, into directory: String) async throws -> String {
        do {
            _ = try await git(["clone", "--quiet", "--bare", "--end-of-options", remote.url, directory],
                              failure: "cannot clone \(remote.url.prefix(300))")
            let ref = remote.ref ?? "HEAD"
            guard let commit = try? await git(["--git-dir=\(directory)", "rev-parse", "--verify", "--end-of-options", "\(ref)^{commit}"],
                                              failure: "") else {
                throw WarrenError(.invalidArgument, "\(ref.prefix(200)) is not a branch, tag or commit of \(remote.url.prefix(300))")
            }
            return directory + "@" + commit
        } catch {
            try? removeTree(directory)
            throw error
        }
    }

    /// Pushes `branch` of the clone at `directory` to its remote; the commit pushed.
    public static func push(branch: String, clone directory: String, remote: String) async throws -> String {
        let head = try await git(["--git-dir=\(directory)", "rev-parse", "--verify", "--end-of-options", "refs/heads/\(branch)"],
                                 failure: "the clone has no branch \(branch)")
        _ = try await git(["--git-dir=\(directory)", "push", "--quiet", "--porcelain", "--", remote, "refs/heads/\(branch):refs/heads/\(branch)"],
                          failure: "cannot push \(branch) to \(remote.prefix(300))")
        return head
    }

    static let settings = ["-c", "protocol.allow=never", "-c", "protocol.https.allow=always", "-c", "protocol.http.allow=always",
                           "-c", "protocol.ssh.allow=always", "-c", "protocol.git.allow=always",
                           "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "credential.interactive=never",
                           "-c", "safe.directory=*", "-c", "submodule.recurse=false"]

    static func git(_ args: [String], failure: String) async throws -> String {
        let env = ProcessInfo.processInfo.environment
        var environment = ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=\(env["HOME"] ?? "/root")", "LC_ALL=C",
                           "GIT_TERMINAL_PROMPT=0", "GIT_SSH_COMMAND=ssh -o BatchMode=yes"]
        for name in ["SSH_AUTH_SOCK", "XDG_CONFIG_HOME", "GIT_SSL_CAINFO", "SSL_CERT_FILE", "SSL_CERT_DIR",
                     "https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"] {
            if let value = env[name] { environment.append("\(name)=\(value)") }
        }
        let out = try await HostCommand.run(["git"] + settings + args, environment: environment, timeout: timeout)
        guard out.status == 0 else {
            throw WarrenError(.badGateway, "\(failure): \(out.message.prefix(500))")
        }
        return out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
