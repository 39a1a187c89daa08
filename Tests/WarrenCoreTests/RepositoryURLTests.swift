import Testing
import WarrenCore

@Suite("Repository URLs")
struct RepositoryURLTests {
    @Test("remote or host path: absolute paths are paths; URLs and scp-like names are remote")
    func remoteOrPath() {
        for remote in ["https://h/r.git", "ssh://git@h:22/r", "git@h:r.git", "h:r", "git://h/r@main"] {
            #expect(RepositoryURL.isRemote(remote), "\(remote)")
        }
        for path in ["/srv/repo", "/srv/repo@main", "./a:b", "/a:b"] {
            #expect(!RepositoryURL.isRemote(path), "\(path)")
        }
    }

    @Test("the ref is split off the path, never off the user or the port")
    func refs() throws {
        let cases: [(String, String, String?)] = [
            ("https://h/r.git", "https://h/r.git", nil),
            ("https://h/r.git@main", "https://h/r.git", "main"),
            ("ssh://git@h:2222/r.git@feature/x", "ssh://git@h:2222/r.git", "feature/x"),
            ("git@h:team/r.git", "git@h:team/r.git", nil),
            ("git@h:team/r.git@v1.2", "git@h:team/r.git", "v1.2"),
            ("http://user@h/r@", "http://user@h/r", nil),
        ]
        for (text, url, ref) in cases {
            let parsed = try RepositoryURL(parsing: text)
            #expect(parsed.url == url && parsed.ref == ref, "\(text) → \(parsed)")
        }
    }

    @Test("refused: passwords, other schemes, options, spaces, odd refs, no host or path", arguments: [
        ("https://u:pw@h/r.git", "password"), ("file:///srv/r", "scheme"), ("ext::sh -c id", "space"),
        ("-uhttps://h/r", "leading dash"), ("https://h/r.git@--upload-pack=x", "ref"), ("https://h/r@a..b", "ref"),
        ("https:///r", "no host"), ("https://h", "no repository"), ("git@h:", "no repository"),
    ])
    func refused(_ text: String, _ why: String) {
        let error = #expect(throws: WarrenError.self) { try RepositoryURL(parsing: text) }
        #expect(error?.code == .invalidArgument && error?.message.contains(why) == true, "\(text): \(String(describing: error))")
    }
}
