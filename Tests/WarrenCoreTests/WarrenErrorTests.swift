import Testing
import WarrenCore

@Suite("WarrenError on the wire")
struct WarrenErrorTests {
    @Test("an error's HTTP status reads back as its code")
    func statusRoundTrip() {
        let codes: [WarrenError.Code] = [.invalidArgument, .unauthorized, .forbidden, .notFound, .conflict,
                                         .unsupported, .unavailable, .timeout, .internalError]
        for code in codes {
            #expect(WarrenError.code(forHTTPStatus: WarrenError(code, "x").httpStatus) == code)
        }
        #expect(WarrenError.code(forHTTPStatus: 418) == .internalError)
        #expect(WarrenError(.alreadyExists, "x").httpStatus == 409 && WarrenError(.invalidState, "x").httpStatus == 409)
    }
}
