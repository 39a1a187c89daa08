import ImageStore
import Testing
import WarrenCore

@Suite("Image references")
struct ImageReferenceTests {
    @Test("Docker Hub names are normalised as Docker does", arguments: [
        ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("library/busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("index.docker.io/me/tool:v1", "docker.io/me/tool:v1", "me/tool:v1"),
        ("localhost:5000/a/b", "localhost:5000/a/b:latest", "localhost:5000/a/b:latest"),
        ("127.0.0.1:5000/agent:2", "127.0.0.1:5000/agent:2", "127.0.0.1:5000/agent:2"),
    ])
    func normalisation(input: String, full: String, familiar: String) throws {
        let ref = try ImageReference(parsing: input)
        #expect(ref.description == full)
        #expect(ref.familiar == familiar)
    }

    @Test("digests: with or without a tag, and no default tag beside one")
    func digests() throws {
        let hex = String(repeating: "ab", count: 32)
        let ref = try ImageReference(parsing: "registry.example:443/x@sha256:\(hex)")
        #expect(ref.registry == "registry.example:443")
        #expect(ref.tag == nil)
        #expect(ref.digest?.hex == hex)
        #expect(ref.apiHost == "registry.example:443")
        #expect(try ImageReference(parsing: "busybox").apiHost == "registry-1.docker.io")
    }

    @Test("invalid references are refused with a one-line reason", arguments: [
        "", "UPPER/case", "a//b", "busybox:", "busybox:-bad", "x@sha256:1234", "x@md5:" + String(repeating: "0", count: 32),
    ])
    func invalid(input: String) {
        #expect(throws: WarrenError.self) { try ImageReference(parsing: input) }
    }
}
