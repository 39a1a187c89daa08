import Foundation
import Testing
import WarrenCore
@testable import WarrenDaemon

@Suite("OpenAPI document")
struct OpenAPITests {
    static let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]

    /// `METHOD /path` for every operation under `paths:` (two-space path keys, four-space methods).
    static func documentedRoutes() throws -> Set<String> {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("api/openapi.yaml"), encoding: .utf8)
        var routes: Set<String> = []
        var inPaths = false
        var currentPath: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if !line.hasPrefix(" ") && !line.isEmpty {
                inPaths = line == "paths:"
                continue
            }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), !line.hasPrefix("   "), line.hasSuffix(":") {
                currentPath = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":"), let path = currentPath {
                let key = String(line.dropFirst(4).dropLast())
                if methods.contains(key) { routes.insert("\(key.uppercased()) \(path)") }
            }
        }
        return routes
    }

    @Test func documentAndRouterAgree() throws {
        let documented = try Self.documentedRoutes()
        let served = APIRouter.routes(of: try Harness().router)
        #expect(documented.count >= 12)
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
        #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented).sorted())")
    }

    @Test func networkPoliciesAreDocumented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("api/openapi.yaml"), encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.contains("network: { type: string, enum: [") })
        let listed = line.split(separator: "[")[1].split(separator: "]")[0].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(listed == NetworkMode.allCases.map(\.rawValue))
    }

    @Test func parserFindsKnownRoutes() throws {
        let documented = try Self.documentedRoutes()
        #expect(documented.contains("DELETE /v1/sandboxes/{id}"))
        #expect(documented.contains("GET /metrics"))
        #expect(!documented.contains { $0.contains("parameters") })
    }
}
