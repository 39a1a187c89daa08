import WarrenCore

/// Where the facade forwards, and with which key: held by the daemon alone.
public struct FacadeUpstreams: Sendable {
    public struct Upstream: Sendable {
        /// Scheme, host and port, with any path prefix and no trailing slash (`https://api.openai.com`).
        public var baseURL: String
        /// The provider key; nil when the daemon has none, so calls are refused with 503.
        public var key: String?

        public init(baseURL: String, key: String?) {
            var base = baseURL
            while base.hasSuffix("/") { base.removeLast() }
            // `OPENAI_BASE_URL` habits end in /v1; the facade adds the /v1 the client asked for.
            if base.hasSuffix("/v1") { base.removeLast(3) }
            self.baseURL = base
            self.key = key.flatMap { $0.isEmpty ? nil : $0 }
        }
    }

    public var upstreams: [LLMProvider: Upstream]

    public init(_ upstreams: [LLMProvider: Upstream]) { self.upstreams = upstreams }

    /// Keys and base URLs from `environment` (`OPENAI_API_KEY`, `WARREN_OPENAI_BASE_URL`, ...),
    /// each falling back to `file` (the daemon's config file) and then to the official endpoint.
    public static func from(environment: [String: String], file: [String: String] = [:]) throws -> FacadeUpstreams {
        var upstreams: [LLMProvider: Upstream] = [:]
        for provider in LLMProvider.allCases {
            let base = environment[provider.baseURLVariable] ?? file[provider.baseURLVariable] ?? provider.defaultBaseURL
            guard base.hasPrefix("http://") || base.hasPrefix("https://") else {
                throw WarrenError(.invalidArgument, "\(provider.baseURLVariable) must be an http:// or https:// URL, not '\(base)'")
            }
            upstreams[provider] = Upstream(baseURL: base, key: environment[provider.keyVariable] ?? file[provider.keyVariable])
        }
        return FacadeUpstreams(upstreams)
    }

    /// Providers the daemon holds a key for.
    public var configured: [LLMProvider] {
        LLMProvider.allCases.filter { upstreams[$0]?.key != nil }
    }
}
