import LLMFacade
import Testing

@Suite("Request body fields")
struct RequestFieldsTests {
    func scan(_ text: String) throws -> RequestFields { try RequestFields.scan(Array(text.utf8)) }

    @Test("model and stream come from the top level only, whatever surrounds them")
    func topLevel() throws {
        #expect(try scan(#"{"model":"gpt-4o","stream":true}"#) == RequestFields(model: "gpt-4o", stream: true))
        #expect(try scan(#" { "messages" : [ {"role":"user","content":"{\"model\":\"x\"}","model":"inner"} ], "#
                         + #""n": -1.5e3, "ok": null, "t": [true,false,{}], "model" : "claude-3" } "#)
                == RequestFields(model: "claude-3", stream: false))
        #expect(try scan(#"{"stream":false,"model":"m"}"#) == RequestFields(model: "m", stream: false))
        #expect(try scan("{}") == RequestFields())
        // Other types count as absent, as the providers would refuse them anyway.
        #expect(try scan(#"{"model":7,"stream":"yes"}"#) == RequestFields())
        #expect(try scan(#"{"model":null,"stream":1}"#) == RequestFields())
    }

    @Test("escapes in the model name are decoded, surrogate pairs included")
    func escapes() throws {
        #expect(try scan(#"{"model":"a\"b\\c\/d\u00e9\ud83d\ude00\n"}"#).model == "a\"b\\c/dé😀\n")
        #expect(try scan(#"{"model":"caf\u00E9"}"#).model == "café")
    }

    @Test("anything but one well-formed JSON object is refused")
    func malformed() {
        for text in ["", "[]", "\"model\"", #"{"model":"m""#, #"{"model":"m"} x"#, #"{"model" "m"}"#, #"{"a":tru}"#,
                     #"{"a":-}"#, #"{"a":[1,]}"#, #"{"a":1,}"#, #"{model:"m"}"#, "{\"model\":\"a\u{1}b\"}", #"{"model":"\x"}"#,
                     "{\"a\":" + String(repeating: "[", count: 600) + String(repeating: "]", count: 600) + "}"] {
            #expect(throws: (any Error).self, "\(text.prefix(40))") { try scan(text) }
        }
    }

    @Test("a large prompt is stepped over")
    func largeBody() throws {
        let content = String(repeating: "lorem ipsum \\\"quoted\\\" ", count: 200_000)
        let body = #"{"messages":[{"role":"user","content":"\#(content)"}],"model":"big","stream":true}"#
        #expect(try scan(body) == RequestFields(model: "big", stream: true))
        let nested = "{\"a\":" + String(repeating: "[", count: 400) + String(repeating: "]", count: 400) + ",\"model\":\"deep\"}"
        #expect(try scan(nested).model == "deep")
    }
}
