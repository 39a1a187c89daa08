import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import WarrenCore

/// How the daemon talks to registries.
public struct RegistryOptions: Sendable {
    /// `host:port` of registries spoken to in plain HTTP; every other one is HTTPS.
    public var insecureRegistries: Set<String>
    public var credentials: RegistryCredentialStore
    /// Tries per request (the first one included) on 5xx, 429 and transport errors.
    public var maxAttempts: Int
    /// The wait before the first retry; it doubles with each further one.
    public var backoff: Duration

    public init(insecureRegistries: Set<String> = [], credentials: RegistryCredentialStore = .init(),
                maxAttempts: Int = 5, backoff: Duration = .milliseconds(200)) {
        self.insecureRegistries = insecureRegistries
        self.credentials = credentials
        self.maxAttempts = maxAttempts
        self.backoff = backoff
    }
}

/// A client for the OCI distribution API (`/v2/`), on AsyncHTTPClient.
///
/// Requests go out anonymously until a registry answers 401; its `WWW-Authenticate`
/// challenge (Basic, or Bearer with realm/service/scope) is remembered per registry and
/// answered from then on — with the credentials for that registry, and bearer tokens
/// cached until they expire. Redirects are followed here, not by the HTTP client, so
/// Authorization never goes to another origin (blob storage behind a redirect).
public final class RegistryClient: Sendable {
    let http: HTTPClient
    public let options: RegistryOptions
    let tokens: TokenCache
    let challenges: ChallengeMemory
    let logger: Logger
    private let ownsHTTPClient: Bool

    public convenience init(options: RegistryOptions, logger: Logger) {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            // The pool itself retries a failing connect until this timeout: what the
            // retries below add is for registries that answered, then failed.
            timeout: .init(connect: .seconds(5), read: .seconds(60)))
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 8
        self.init(http: HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration),
                  options: options, tokens: TokenCache(), challenges: ChallengeMemory(), logger: logger, owner: true)
    }

    private init(http: HTTPClient, options: RegistryOptions, tokens: TokenCache, challenges: ChallengeMemory,
                 logger: Logger, owner: Bool) {
        self.http = http
        self.options = options
        self.tokens = tokens
        self.challenges = challenges
        self.logger = logger
        ownsHTTPClient = owner
    }

    /// The same client (connections, tokens) with other credentials: the logins as they
    /// are at the time of a pull, or a caller's own.
    public func with(_ credentials: RegistryCredentialStore) -> RegistryClient {
        var options = options
        options.credentials = credentials
        return RegistryClient(http: http, options: options, tokens: tokens, challenges: challenges, logger: logger, owner: false)
    }

    public func shutdown() async {
        if ownsHTTPClient { try? await http.shutdown() }
    }

    /// The registry's base URL, `https://host/v2/` unless the registry is named insecure.
    func baseURL(_ ref: ImageReference) -> String {
        (options.insecureRegistries.contains(ref.registry) ? "http://" : "https://") + ref.apiHost + "/v2/"
    }

    // MARK: - Manifests

    struct FetchedManifest: Sendable { var bytes: [UInt8]; var mediaType: String; var digest: Digest }

    static let manifestAccept = [
        MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest,
        MediaType.dockerSchema1Signed, MediaType.dockerSchema1,
    ].joined(separator: ", ")

    /// Fetches a manifest or index by tag or digest; a digest is verified.
    func manifest(_ ref: ImageReference, reference: String) async throws -> FetchedManifest {
        let url = baseURL(ref) + ref.repository + "/manifests/" + reference
        let response = try await send(url: url, ref: ref, headers: [("Accept", Self.manifestAccept)])
        let body = try await Self.collect(response, limit: 4 << 20, what: "manifest \(ref.name):\(reference)")
        guard response.status == .ok else { throw try Self.failure(response.status, body: body, what: "\(ref.name):\(reference)", registry: ref.registry) }
        let digest = Digest.of(body)
        if let expected = try? Digest(parsing: reference), expected != digest {
            throw WarrenError(.invalidArgument, "manifest \(expected) from \(ref.registry) failed verification: its content hashes to \(digest)")
        }
        let type = response.headers.first(name: "Content-Type")?.split(separator: ";").first.map(String.init) ?? ""
        return FetchedManifest(bytes: body, mediaType: type, digest: digest)
    }

    // MARK: - Blobs

    /// Streams a blob to `sink`, starting at `written()` bytes; after a transport error
    /// it resumes where the sink stands (a Range request, or skipping what a registry
    /// without range support sends again). The caller verifies the digest.
    func blob(_ ref: ImageReference, digest: Digest, written: @Sendable () -> Int64,
              sink: (ByteBuffer) async throws -> Void) async throws {
        let url = baseURL(ref) + ref.repository + "/blobs/" + digest.description
        var attempt = 1
        while true {
            let offset = written()
            var headers: [(String, String)] = []
            if offset > 0 { headers.append(("Range", "bytes=\(offset)-")) }
            var answered = false
            do {
                let response = try await send(url: url, ref: ref, headers: headers)
                answered = true
                var skip: Int64 = 0
                switch response.status {
                case .ok: skip = offset
                case .partialContent: skip = 0
                default:
                    let body = try await Self.collect(response, limit: 1 << 20, what: "blob \(digest)")
                    throw try Self.failure(response.status, body: body, what: "blob \(digest) of \(ref.name)", registry: ref.registry)
                }
                for try await var buffer in response.body {
                    if skip > 0 {
                        let drop = Int(min(skip, Int64(buffer.readableBytes)))
                        buffer.moveReaderIndex(forwardBy: drop)
                        skip -= Int64(drop)
                        if buffer.readableBytes == 0 { continue }
                    }
                    try await sink(buffer)
                }
                return
            } catch {
                // `send` has retried what failed before an answer; this resumes a body cut short.
                guard answered, Self.isTransient(error), attempt < options.maxAttempts else { throw wrapTransport(error, ref) }
                logger.notice("blob download interrupted; resuming", metadata: [
                    "blob": "\(digest)", "attempt": "\(attempt)", "error": "\(error)"])
                try await Task.sleep(for: options.backoff * (1 << (attempt - 1)))
                attempt += 1
            }
        }
    }

    /// A small blob (a config) read whole, up to `limit` bytes; the caller verifies it.
    func smallBlob(_ ref: ImageReference, digest: Digest, limit: Int) async throws -> [UInt8] {
        let box = ByteBox()
        try await blob(ref, digest: digest, written: { box.count }) { buffer in
            guard box.count + Int64(buffer.readableBytes) <= Int64(limit) else {
                throw WarrenError(.invalidArgument, "blob \(digest) from \(ref.registry) is larger than \(limit) bytes")
            }
            box.append(buffer)
        }
        return box.bytes
    }

    // MARK: - Requests

    /// A GET with authentication, retries and redirects. The response's body is the
    /// caller's to read.
    func send(url: String, ref: ImageReference, headers: [(String, String)]) async throws -> HTTPClientResponse {
        var attempt = 1
        var reauthenticated = false
        while true {
            do {
                let response = try await sendFollowingRedirects(url: url, ref: ref, headers: headers)
                if response.status == .unauthorized, !reauthenticated,
                   let header = response.headers.first(name: "WWW-Authenticate"), let challenge = AuthChallenge.parse(header) {
                    _ = try? await Self.collect(response, limit: 1 << 20, what: "")
                    // A new challenge, or a cached token the registry no longer takes.
                    await challenges.remember(challenge, for: ref.registry)
                    await tokens.forget(realm: challenge.parameters["realm"] ?? "")
                    reauthenticated = true
                    continue
                }
                if Self.retryable(response.status), attempt < options.maxAttempts {
                    _ = try? await Self.collect(response, limit: 1 << 20, what: "")
                    logger.notice("registry busy; retrying", metadata: ["url": "\(url)", "status": "\(response.status.code)"])
                    try await Task.sleep(for: options.backoff * (1 << (attempt - 1)))
                    attempt += 1
                    continue
                }
                return response
            } catch {
                guard Self.isTransient(error), !Self.isConnectFailure(error), attempt < options.maxAttempts else {
                    throw wrapTransport(error, ref)
                }
                logger.notice("registry connection failed; retrying", metadata: ["url": "\(url)", "error": "\(error)"])
                try await Task.sleep(for: options.backoff * (1 << (attempt - 1)))
                attempt += 1
            }
        }
    }

    private func sendFollowingRedirects(url: String, ref: ImageReference, headers: [(String, String)]) async throws -> HTTPClientResponse {
        let authorization = try await authorization(for: ref)
        let origin = try Origin(url)
        var current = url
        for _ in 0..<6 {
            var request = HTTPClientRequest(url: current)
            request.method = .GET
            request.headers.add(name: "User-Agent", value: "warren")
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            // Credentials go only to the registry itself, never to where it redirects.
            if let authorization, try Origin(current) == origin { request.headers.add(name: "Authorization", value: authorization) }
            let response = try await http.execute(request, timeout: .seconds(60), logger: logger)
            guard [301, 302, 303, 307, 308].contains(response.status.code), let location = response.headers.first(name: "Location") else {
                return response
            }
            _ = try? await Self.collect(response, limit: 1 << 20, what: "")
            guard let next = URL(string: location, relativeTo: URL(string: current))?.absoluteString,
                  next.hasPrefix("https://") || (next.hasPrefix("http://") && current.hasPrefix("http://")) else {
                throw WarrenError(.unavailable, "registry \(ref.registry) redirected to '\(location)', which is not followed (HTTPS to plain HTTP, or not a URL)")
            }
            current = next
        }
        throw WarrenError(.unavailable, "registry \(ref.registry) redirected too many times")
    }

    /// The Authorization header for `ref`'s registry and repository, once a challenge is known.
    private func authorization(for ref: ImageReference) async throws -> String? {
        guard let challenge = await challenges.challenge(for: ref.registry) else { return nil }
        let credential = options.credentials.credential(for: ref.registry)
        switch challenge.scheme {
        case .basic:
            guard let credential else {
                throw WarrenError(.unauthorized, "registry \(ref.registry) requires a login: no credentials for it in the daemon's docker config.json")
            }
            return credential.basicHeader
        case .bearer:
            return "Bearer " + (try await bearerToken(challenge, ref: ref, credential: credential))
        }
    }

    private func bearerToken(_ challenge: AuthChallenge, ref: ImageReference, credential: RegistryCredential?) async throws -> String {
        guard let realm = challenge.parameters["realm"], var components = URLComponents(string: realm),
              components.scheme == "https" || (components.scheme == "http" && options.insecureRegistries.contains(ref.registry)) else {
            throw WarrenError(.unavailable, "registry \(ref.registry) names token realm '\(challenge.parameters["realm"] ?? "")', which is not an HTTPS URL")
        }
        let service = challenge.parameters["service"] ?? ""
        let scope = "repository:\(ref.repository):pull"
        let key = TokenCache.Key(realm: realm, service: service, scope: scope, user: credential?.basicHeader ?? "")
        if let token = await tokens.token(key) { return token }
        var query = components.queryItems ?? []
        if !service.isEmpty { query.append(URLQueryItem(name: "service", value: service)) }
        query.append(URLQueryItem(name: "scope", value: scope))
        if let credential { query.append(URLQueryItem(name: "account", value: credential.username)) }
        components.queryItems = query
        guard let url = components.string else { throw WarrenError(.unavailable, "token realm '\(realm)' is not a URL") }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "User-Agent", value: "warren")
        if let credential { request.headers.add(name: "Authorization", value: credential.basicHeader) }
        let response: HTTPClientResponse
        do { response = try await http.execute(request, timeout: .seconds(30), logger: logger) } catch {
            throw WarrenError(.unavailable, "token service \(realm) for \(ref.registry) is unreachable: \(error)")
        }
        let body = try await Self.collect(response, limit: 1 << 20, what: "token")
        guard response.status == .ok else {
            let code: WarrenError.Code = response.status == .unauthorized || response.status == .forbidden ? .unauthorized : .unavailable
            throw WarrenError(code, "token service for \(ref.registry) refused \(credential == nil ? "an anonymous" : "the \(credential!.username)") request for \(scope): HTTP \(response.status.code)")
        }
        struct TokenResponse: Decodable { var token: String?; var access_token: String?; var expires_in: Int? }
        guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(body)),
              let token = decoded.token ?? decoded.access_token, !token.isEmpty else {
            throw WarrenError(.unavailable, "token service for \(ref.registry) answered without a token")
        }
        await tokens.store(token, for: key, lifetime: decoded.expires_in ?? 60)
        return token
    }

    // MARK: - Helpers

    static func collect(_ response: HTTPClientResponse, limit: Int, what: String) async throws -> [UInt8] {
        do {
            var buffer = try await response.body.collect(upTo: limit)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch is NIOTooManyBytesError {
            throw WarrenError(.invalidArgument, "\(what) is larger than \(limit) bytes")
        }
    }

    static func retryable(_ status: HTTPResponseStatus) -> Bool {
        status == .tooManyRequests || (status.code >= 500 && status != .notImplemented)
    }

    static func isTransient(_ error: any Error) -> Bool {
        if error is CancellationError || error is WarrenError { return false }
        if let e = error as? HTTPClientError, e == .cancelled { return false }
        return true
    }

    /// No connection could be made, or no TLS session: the pool has already kept
    /// trying for the connect timeout, and TLS to a plain HTTP server never works.
    static func isConnectFailure(_ error: any Error) -> Bool {
        if error is NIOConnectionError || error is NIOSSLError { return true }
        if let e = error as? HTTPClientError, e == .connectTimeout { return true }
        if let io = error as? IOError, [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH].contains(io.errnoCode) { return true }
        return false
    }

    func wrapTransport(_ error: any Error, _ ref: ImageReference) -> any Error {
        if error is WarrenError || error is CancellationError { return error }
        var why = "\(error)"
        if let io = error as? IOError { why = String(cString: strerror(io.errnoCode)) }
        if let e = error as? NIOConnectionError, let io = e.connectionErrors.first?.error as? IOError {
            why = String(cString: strerror(io.errnoCode))
        }
        if case .handshakeFailed = error as? NIOSSLError { why = "the TLS handshake failed" }
        let hint = options.insecureRegistries.contains(ref.registry) ? ""
            : " (over HTTPS; a registry that speaks plain HTTP must be named by the daemon's --insecure-registry)"
        return WarrenError(.unavailable, "registry \(ref.registry) is unreachable: \(why)\(hint)")
    }

    /// A registry's error answer as a `WarrenError`, with its own message when it gave one.
    static func failure(_ status: HTTPResponseStatus, body: [UInt8], what: String, registry: String) throws -> WarrenError {
        struct Errors: Decodable { struct E: Decodable { var code: String?; var message: String? }; var errors: [E]? }
        let detail = (try? JSONDecoder().decode(Errors.self, from: Data(body)))?.errors?.first
            .map { [$0.code, $0.message].compactMap { $0 }.joined(separator: ": ") } ?? ""
        let suffix = detail.isEmpty ? "" : " (\(detail))"
        switch status {
        case .unauthorized:
            return WarrenError(.unauthorized, "registry \(registry) denied access to \(what): authentication required\(suffix)")
        case .forbidden:
            return WarrenError(.forbidden, "registry \(registry) forbids access to \(what)\(suffix)")
        case .notFound:
            return WarrenError(.notFound, "\(what) not found in registry \(registry)\(suffix)")
        default:
            return WarrenError(.unavailable, "registry \(registry) answered HTTP \(status.code) for \(what)\(suffix)")
        }
    }
}

/// Scheme, host and port of a URL: what decides whether credentials may go there.
struct Origin: Equatable {
    var scheme: String, host: String, port: Int
    init(_ url: String) throws {
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased(), let host = c.host?.lowercased() else {
            throw WarrenError(.invalidArgument, "'\(url)' is not a URL")
        }
        self.scheme = scheme
        self.host = host
        port = c.port ?? (scheme == "https" ? 443 : 80)
    }
}

/// Bytes collected across a download's attempts.
final class ByteBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [UInt8] = []
    var count: Int64 { lock.withLock { Int64(storage.count) } }
    var bytes: [UInt8] { lock.withLock { storage } }
    func append(_ buffer: ByteBuffer) { lock.withLock { storage += buffer.readableBytesView } }
}

/// The authentication challenge each registry last answered with.
actor ChallengeMemory {
    private var byRegistry: [String: AuthChallenge] = [:]
    func challenge(for registry: String) -> AuthChallenge? { byRegistry[registry] }
    func remember(_ challenge: AuthChallenge, for registry: String) { byRegistry[registry] = challenge }
}
