import Foundation

/// The warren-agent guest image (`guest-images/agent/build.sh`): Debian with git and the
/// real Claude Code and Codex CLIs from PyPI, built once per machine into
/// `/tmp/warren-agent.tar`, an OCI layout tar for `warren image import`.
public enum AgentGuestImage {
    public static let archive = "/tmp/warren-agent.tar"
    static let shared: Result<String, any Error> = Result { try build() }

    public static func path() throws -> String { try shared.get() }

    static func build() throws -> String {
        let script = TestRootfs.packageRoot + "/guest-images/agent/build.sh"
        if let built = JupyterGuestImage.modified(archive), built > JupyterGuestImage.modified(script) ?? .distantPast {
            return archive
        }
        _ = try TestRootfs.run(blocking: "/bin/sh", [script, archive])
        return archive
    }
}
