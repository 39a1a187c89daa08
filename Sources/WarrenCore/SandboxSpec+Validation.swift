/// The checks of a spec that need nothing but the spec: the daemon runs them on every
/// create and the CLI before it sends one, so both refuse the same input the same way.
extension SandboxSpec {
    public func validate() throws {
        // An image may bring its own command; a bare rootfs cannot, and a given one must name a program.
        let commandRequired = image == nil || !command.isEmpty
        if commandRequired && (command.first?.isEmpty ?? true) {
            throw WarrenError(.invalidArgument, "a sandbox needs a command")
        }
        try InputRules.count(command, "command", max: 4096)
        try InputRules.count(env, "env", max: 4096)
        try InputRules.argumentsAndEnvironment(command, env)
        if let name { try SandboxID.validateName(name) }
        try limits.validate()
        if rootfs == nil && image == nil {
            throw WarrenError(.invalidArgument, "a sandbox needs a rootfs directory or an image")
        }
        if let rootfs { try InputRules.absolutePath(rootfs, "rootfs") }
        if let image { try InputRules.text(image, "image reference", maxBytes: 1024, allowEmpty: false) }
        if let workdir { try InputRules.absolutePath(workdir, "workdir") }
        if let user { try InputRules.user(user) }
        if let driver { try InputRules.text(driver, "driver", maxBytes: 64) }
        if let hostname { try InputRules.hostname(hostname) }
        try InputRules.count(mounts, "mounts", max: 64)
        for mount in mounts {
            try InputRules.absolutePath(mount.source, "mount source")
            try InputRules.absolutePath(mount.destination, "mount destination")
            if mount.destination.split(separator: "/").contains("..") {
                throw WarrenError(.invalidArgument, "mount destination \(mount.destination) must not contain '..'")
            }
        }
        try InputRules.count(capAdd, "capAdd", max: 64)
        for cap in capAdd { try InputRules.text(cap, "capability", maxBytes: 64, allowEmpty: false) }
        try Labels.validate(labels)
        try llm?.validate()
    }
}

extension LLMAccess {
    public func validate() throws {
        try InputRules.count(providers, "llm providers", max: 8)
        try InputRules.count(models, "llm models")
        for p in providers { try InputRules.text(p, "llm provider", maxBytes: 64, allowEmpty: false) }
        for m in models { try InputRules.text(m, "llm model", maxBytes: 256, allowEmpty: false) }
        if let t = budgetTokens { try InputRules.number(t, "llm budget tokens", in: 1...Int64.max) }
        if let r = budgetRequests { try InputRules.number(r, "llm budget requests", in: 1...Int64.max) }
        if let rpm = requestsPerMinute { try InputRules.number(rpm, "llm requests per minute", in: 1...1_000_000) }
    }
}

extension ExecRequest {
    public func validate() throws {
        guard let first = command.first, !first.isEmpty else {
            throw WarrenError(.invalidArgument, "exec needs a command")
        }
        try InputRules.count(command, "command", max: 4096)
        try InputRules.count(env, "env", max: 4096)
        try InputRules.argumentsAndEnvironment(command, env)
        if let workdir { try InputRules.absolutePath(workdir, "workdir") }
        if let user { try InputRules.user(user) }
    }
}

extension StopRequest {
    /// The longest grace a stop may give: a day.
    public static let maxGraceSeconds: Double = 86_400

    /// The grace period asked for, checked; nil when none was given.
    public func grace() throws -> Duration? {
        try graceSeconds.map { try InputRules.seconds($0, "graceSeconds", max: Self.maxGraceSeconds) }
    }
}
