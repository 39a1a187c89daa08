import Testing
import WarrenCore

@Suite("Egress policy")
struct EgressPolicyTests {
    @Test("addresses: IPv4, IPv6 with :: and a dotted tail, IPv4-mapped is IPv4; malformed ones are not addresses")
    func addresses() {
        #expect(IPAddress("192.0.2.7")?.description == "192.0.2.7")
        #expect(IPAddress("::ffff:127.0.0.1") == IPAddress("127.0.0.1"))
        #expect(IPAddress("2001:db8::1")?.description == "2001:db8:0:0:0:0:0:1")
        #expect(IPAddress("::") != nil && IPAddress("::1") != nil && IPAddress("fe80::1:2:3:4") != nil)
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", "1::2::3", "12345::", ":::", "g::1",
                    "1:2:3:4:5:6:7:8:9", "fe80::1%eth0", "localhost"] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
        #expect(IPNetwork("10.0.0.0/8")?.contains(IPAddress("10.200.3.4")!) == true)
        #expect(IPNetwork("10.0.0.0/8")?.contains(IPAddress("11.0.0.1")!) == false)
        #expect(IPNetwork("2001:db8::/32")?.contains(IPAddress("2001:db8:ffff::1")!) == true)
        #expect(IPNetwork("10.0.0.0/33") == nil && IPNetwork("::/129") == nil && IPNetwork("10.0.0.0/x") == nil)
    }

    @Test("rules parse and print back; names are lowercased without a trailing dot")
    func parsing() throws {
        let texts = ["pypi.org", "*.pythonhosted.org", "github.com:443", "10.1.0.0/16", "192.0.2.7", "[2001:db8::/32]:443", "Files.Example.COM."]
        let printed = try texts.map { try EgressRule(parsing: $0).description }
        #expect(printed == ["pypi.org", "*.pythonhosted.org", "github.com:443", "10.1.0.0/16", "192.0.2.7/32",
                            "[2001:db8:0:0:0:0:0:0/32]:443", "files.example.com"])
    }

    @Test("refused rules: empty, bare or too-wide wildcards, bad ports, bad names and blocks", arguments: [
        "", "*", "*.com", "a..b", "-a.com", "a b.com", "pypi.org:0", "pypi.org:70000", "pypi.org:x", "10.0.0.0/33",
        "300.1.1.1", "[::1", "exa$mple.com", "http://pypi.org",
    ])
    func refused(_ text: String) {
        #expect(throws: WarrenError.self) { try EgressRule(parsing: text) }
    }

    @Test("names: exact hosts, subdomains of a wildcard (not the apex), ports when given; nothing by default")
    func names() throws {
        #expect(!EgressPolicy().allows(host: "pypi.org", port: 443), "no egress by default")
        let p = try EgressPolicy(parsing: ["pypi.org", "*.pythonhosted.org", "github.com:443"])
        #expect(p.allows(host: "pypi.org", port: 443) && p.allows(host: "PyPI.org.", port: 80))
        #expect(p.allows(host: "files.pythonhosted.org", port: 443) && p.allows(host: "a.b.pythonhosted.org", port: 8080))
        #expect(!p.allows(host: "pythonhosted.org", port: 443), "a wildcard is below its domain, not the domain")
        #expect(!p.allows(host: "evilpythonhosted.org", port: 443) && !p.allows(host: "pypi.org.evil.com", port: 443))
        #expect(p.allows(host: "github.com", port: 443) && !p.allows(host: "github.com", port: 22))
        #expect(!p.allows(host: "example.com", port: 443))
    }

    @Test("addresses connected to: a public one behind an allowed name; never loopback, metadata, private or the host's own unless a block names it")
    func connectedAddresses() throws {
        let p = try EgressPolicy(parsing: ["pypi.org", "10.9.0.0/16:8080"])
        let public4 = IPAddress("151.101.0.223")!
        #expect(p.allows(address: public4, port: 443, named: "pypi.org"))
        #expect(!p.allows(address: public4, port: 443, named: "example.com"), "a name the rules do not allow")
        #expect(!p.allows(address: public4, port: 443, named: nil), "a bare address needs a block rule")
        // DNS rebinding: an allowed name that resolves to special-purpose addresses.
        for special in ["127.0.0.1", "169.254.169.254", "10.0.0.5", "172.16.1.1", "192.168.1.1", "100.64.0.1", "0.0.0.0",
                        "224.0.0.1", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254"] {
            #expect(!p.allows(address: IPAddress(special)!, port: 443, named: "pypi.org"), "\(special)")
            #expect(EgressAddresses.specialPurpose(IPAddress(special)!) != nil, "\(special)")
        }
        #expect(!p.allows(address: public4, port: 443, named: "pypi.org", hostAddresses: [public4]), "the host's own address")
        // A block rule names its addresses, on its port only.
        #expect(p.allows(address: IPAddress("10.9.3.4")!, port: 8080, named: nil))
        #expect(!p.allows(address: IPAddress("10.9.3.4")!, port: 80, named: nil))
        #expect(!p.allows(address: IPAddress("10.8.3.4")!, port: 8080, named: nil))
        #expect(p.allows(host: "10.9.3.4", port: 8080) && !p.allows(host: "127.0.0.1", port: 8080))
        #expect(EgressAddresses.specialPurpose(public4) == nil)
    }
}
