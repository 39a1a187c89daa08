import Testing
import WarrenCore

@Suite("Hop-by-hop headers")
struct HopByHopHeadersTests {
    @Test("the fixed names, plus every name a Connection header lists, lower-cased")
    func dropped() {
        let dropped = HopByHopHeaders.dropped(connection: ["keep-alive, X-Trace ", "Upgrade,,x-other"])
        #expect(dropped.isSuperset(of: ["connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer"]))
        #expect(dropped.contains("x-trace") && dropped.contains("x-other"))
        #expect(!dropped.contains("") && !dropped.contains("content-type") && !dropped.contains("authorization"))
        #expect(HopByHopHeaders.dropped(connection: [String]()) == HopByHopHeaders.names)
    }
}
