import Foundation
@testable import ImageStore
import Logging
import Testing
import WarrenCore

@Suite("Registry authentication")
struct RegistryAuthTests {
    @Test("WWW-Authenticate: Bearer with quoted, escaped and comma-holding values; Basic; unknown schemes")
    func challenges() throws {
        let bearer = try #require(AuthChallenge.parse(
            #"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#))
        #expect(bearer.scheme == .bearer)
        #expect(bearer.parameters == ["realm": "https://auth.example.com/token", "service": "registry.example.com",
                                      "scope": "repository:a/b:pull,push"])
        let spaced = try #require(AuthChallenge.parse(#"bearer Realm = "x\"y" , error=invalid_token"#))
        #expect(spaced.parameters["realm"] == #"x"y"# && spaced.parameters["error"] == "invalid_token")
        #expect(AuthChallenge.parse(#"Basic realm="warren-test""#) == AuthChallenge(scheme: .basic, parameters: ["realm": "warren-test"]))
        #expect(AuthChallenge.parse("Basic")?.scheme == .basic)
        #expect(AuthChallenge.parse(#"Negotiate abc"#) == nil)
    }

    @Test("docker config.json: keys with schemes and paths, Docker Hub's legacy key, auth or username/password")
    func dockerConfig() throws {
        let path = NSTemporaryDirectory() + "/warren-auth-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let hub = Data("hubuser:hub:pass".utf8).base64EncodedString()
        try """
        {"auths": {
          "https://index.docker.io/v1/": {"auth": "\(hub)"},
          "http://registry.local:5000/v2/": {"username": "u", "password": "p"},
          "ghcr.io": {"auth": "not base64!"}
        }, "credsStore": "desktop"}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let store = try RegistryCredentialStore.dockerConfig(at: path)
        #expect(store.credential(for: "docker.io") == RegistryCredential(username: "hubuser", password: "hub:pass"),
                "the password keeps its colon")
        #expect(store.credential(for: "registry.local:5000") == RegistryCredential(username: "u", password: "p"))
        #expect(store.credential(for: "ghcr.io") == nil, "an unreadable entry is no login")
        #expect(try RegistryCredentialStore.dockerConfig(at: path + ".missing").entries.isEmpty)
        try "{not json".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: WarrenError.self) { try RegistryCredentialStore.dockerConfig(at: path) }
    }

    @Test("origins: scheme, host and default ports decide where Authorization may go")
    func origins() throws {
        #expect(try Origin("https://r.example.com/v2/x") == Origin("https://R.example.com:443/other"))
        #expect(try Origin("https://r.example.com/v2/x") != Origin("https://blobs.example.com/v2/x"))
        #expect(try Origin("http://127.0.0.1:5000/a") != Origin("http://127.0.0.1:5001/a"))
        #expect(try Origin("http://r.example.com/a") != Origin("https://r.example.com/a"))
    }

    @Test("tokens are kept per realm, service, scope and credential until near expiry")
    func tokenCache() async throws {
        let cache = TokenCache()
        let key = TokenCache.Key(realm: "https://auth", service: "s", scope: "repository:a:pull", user: "Basic x")
        await cache.store("t1", for: key, lifetime: 300)
        #expect(await cache.token(key) == "t1")
        var other = key
        other.user = "Basic y"
        #expect(await cache.token(other) == nil, "another password does not get this token")
        await cache.forget(realm: "https://auth")
        #expect(await cache.token(key) == nil)
    }

    @Test("HTTPS unless the daemon names the registry insecure")
    func schemes() throws {
        let client = RegistryClient(options: RegistryOptions(insecureRegistries: ["127.0.0.1:5000"]), logger: Logger(label: "test"))
        defer { Task { await client.shutdown() } }
        #expect(client.baseURL(try ImageReference(parsing: "127.0.0.1:5000/a/b")) == "http://127.0.0.1:5000/v2/")
        #expect(client.baseURL(try ImageReference(parsing: "127.0.0.1:5001/a/b")) == "https://127.0.0.1:5001/v2/")
        #expect(client.baseURL(try ImageReference(parsing: "busybox")) == "https://registry-1.docker.io/v2/")
    }
}
