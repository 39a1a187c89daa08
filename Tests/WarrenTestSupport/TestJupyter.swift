import Foundation
import LinuxSupport

/// The warren-jupyter guest image (`guest-images/jupyter/build.sh`): Debian, Python,
/// jupyter_server and ipykernel, built once per machine from Debian's packages and PyPI
/// into `/tmp/warren-jupyter.tar`, an OCI layout tar for `warren image import`.
public enum JupyterGuestImage {
    public static let archive = "/tmp/warren-jupyter.tar"
    static let shared: Result<String, any Error> = Result { try build() }

    public static func path() throws -> String { try shared.get() }

    static func build() throws -> String {
        let script = TestRootfs.packageRoot + "/guest-images/jupyter/build.sh"
        let launcher = TestRootfs.packageRoot + "/runtime/notebook/warren-notebook"
        // Rebuilt when the recipe or the launcher changed since the last build.
        if let built = modified(archive), built > max(modified(script) ?? .distantPast, modified(launcher) ?? .distantPast) {
            return archive
        }
        _ = try TestRootfs.run(blocking: "/bin/sh", [script, archive])
        return archive
    }

    static func modified(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }
}

/// `Tests/Fixtures/notebook-client.py` run in the SDK venv: the browser's part.
public enum NotebookClient {
    /// Runs `args` on a thread of its own and returns the last JSON line it printed.
    public static func run(_ args: [String]) async throws -> [String: Any] {
        let python = try PythonSDKs.path() + "/bin/python"
        let out = try await TestRootfs.run(python, [Fixture.path("notebook-client.py")] + args)
        guard let line = out.split(separator: "\n").last,
              let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw HarnessFailure("notebook-client.py printed no JSON: \(out)")
        }
        return object
    }
}

struct HarnessFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
