import Foundation
import LinuxSupport
import WarrenCore

extension SandboxBundle {
    /// The launch configuration the daemon wrote into this bundle.
    func loadLaunchConfig() throws -> HelperLaunchConfig {
        guard let data = readFileIfPresent(configFile) else {
            throw SandboxSetupError("no config.json in \(path)")
        }
        return try WarrenJSON.decoder().decode(HelperLaunchConfig.self, from: Data(data))
    }
}
