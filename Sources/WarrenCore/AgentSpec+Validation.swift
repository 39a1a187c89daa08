/// The checks of an agent request that need nothing but the request, for the API and the CLI.
extension AgentSpec {
    public func validate() throws {
        try InputRules.text(provider, "provider", maxBytes: 64, allowEmpty: false)
        if interactive {
            try InputRules.text(prompt, "prompt", maxBytes: Self.maxPromptBytes)
        } else {
            try Self.validatePrompt(prompt)
        }
        if let name { try SandboxID.validateName(name) }
        if let model { try InputRules.text(model, "model", maxBytes: 256, allowEmpty: false) }
        if let systemPrompt { try InputRules.text(systemPrompt, "system prompt", maxBytes: Self.maxPromptBytes) }
        if let maxTurns { try InputRules.number(maxTurns, "max turns", in: 1...10_000) }
        try InputRules.count(command, "command", max: 4096)
        try InputRules.count(env, "env", max: 4096)
        try InputRules.argumentsAndEnvironment(command, env)
        if workspace != nil && repo != nil {
            throw WarrenError(.invalidArgument, "give a workspace or a repo, not both")
        }
        if let workspace { try InputRules.absolutePath(workspace, "workspace") }
        if let repo {
            if RepositoryURL.isRemote(repo) { _ = try RepositoryURL(parsing: repo) } else { try InputRules.absolutePath(repo, "repo") }
        }
        if image != nil && rootfs != nil { throw WarrenError(.invalidArgument, "give an image or a rootfs, not both") }
        if let image { try InputRules.text(image, "image reference", maxBytes: 1024, allowEmpty: false) }
        if let rootfs { try InputRules.absolutePath(rootfs, "rootfs") }
        if let driver { try InputRules.text(driver, "driver", maxBytes: 64) }
        try limits.validate()
        try Labels.validate(labels)
        try llm?.validate()
    }

    public static func validatePrompt(_ prompt: String) throws {
        try InputRules.text(prompt, "prompt", maxBytes: maxPromptBytes, allowEmpty: false)
    }
}
