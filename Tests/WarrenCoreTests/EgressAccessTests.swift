import Testing
import WarrenCore

@Suite("Egress access")
struct EgressAccessTests {
    @Test("allow and deny move a pattern between the lists, matching rules rather than spellings")
    func allowDeny() throws {
        let start = EgressAccess(allow: ["pypi.org", "*.github.com"])
        let denied = start.denying(["PyPI.org."])
        #expect(denied.allow == ["*.github.com"] && denied.deny == ["PyPI.org."])
        #expect(try !denied.policy().allows(host: "pypi.org", port: 443))
        let again = denied.allowing(["pypi.org"])
        #expect(again.deny.isEmpty && again.allow == ["*.github.com", "pypi.org"])
        #expect(try again.policy().allows(host: "pypi.org", port: 443))
        #expect(again.allowing(["pypi.org"]) == again, "allowing twice adds nothing")
    }

    @Test("a deny pattern wins over an allow pattern that also matches, for names and for addresses")
    func denyWins() throws {
        let policy = try EgressAccess(allow: ["*.github.com", "10.0.0.0/8"], deny: ["gist.github.com", "10.9.0.0/16"]).policy()
        #expect(policy.allows(host: "api.github.com", port: 443))
        #expect(!policy.allows(host: "gist.github.com", port: 443))
        #expect(policy.allows(address: IPAddress("10.1.2.3")!, port: 80, named: nil))
        #expect(!policy.allows(address: IPAddress("10.9.2.3")!, port: 80, named: nil))
        #expect(!policy.allows(host: "10.9.0.1", port: 80))
    }

    @Test("added hosts: NAME:ADDRESS pairs, IPv6 in brackets or not; anything else is a 400")
    func hosts() throws {
        let map = try EgressAccess(hosts: ["pypi.test:11.99.1.2", "v6.test:[2001:db8::1]", "Bare.Test.:::1"]).hostMap()
        #expect(map == ["pypi.test": IPAddress("11.99.1.2")!, "v6.test": IPAddress("2001:db8::1")!, "bare.test": IPAddress("::1")!])
        for bad in ["pypi.test", "pypi.test:", ":1.2.3.4", "*.x.test:1.2.3.4", "a.test:300.1.1.1", "a.test:name"] {
            #expect(throws: WarrenError.self, "\(bad)") { try EgressAccess(hosts: [bad]).hostMap() }
        }
    }

    @Test("validation: bad patterns, a non-positive budget and too many entries are refused")
    func validation() {
        #expect(throws: WarrenError.self) { try EgressAccess(allow: ["*"]).validate() }
        #expect(throws: WarrenError.self) { try EgressAccess(deny: ["http://x"]).validate() }
        #expect(throws: WarrenError.self) { try EgressAccess(budgetBytes: 0).validate() }
        #expect(throws: WarrenError.self) { try EgressAccess(allow: Array(repeating: "a.org", count: 2000)).validate() }
        #expect(throws: Never.self) { try EgressAccess(allow: ["pypi.org"], budgetBytes: 1).validate() }
    }

    @Test("the guest's environment names the proxy for every scheme in both cases and keeps the loopback direct")
    func environment() {
        let env = Dictionary(uniqueKeysWithValues: EgressAccess.environment.map { line -> (String, String) in
            let parts = line.split(separator: "=", maxSplits: 1)
            return (String(parts[0]), String(parts[1]))
        })
        for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] { #expect(env[name] == "http://127.0.0.1:9401") }
        #expect(env["ALL_PROXY"] == "socks5h://127.0.0.1:9401" && env["all_proxy"] == env["ALL_PROXY"])
        #expect(env["NO_PROXY"]?.split(separator: ",").contains("127.0.0.1") == true && env["no_proxy"] == env["NO_PROXY"])
    }
}
