import Foundation
import WarrenCore

/// Agent sessions (`/v1/agents`).
extension WarrenClient {
    /// Starts a session and its first turn.
    public func createAgent(_ spec: AgentSpec) async throws -> AgentInfo {
        try await call(.POST, "/v1/agents", body: spec)
    }

    public func listAgents() async throws -> [AgentInfo] {
        try await call(.GET, "/v1/agents")
    }

    public func inspectAgent(_ reference: String) async throws -> AgentInfo {
        try await call(.GET, "/v1/agents/\(Self.escape(reference))")
    }

    /// A follow-up turn in the same conversation.
    public func sendAgent(_ reference: String, prompt: String) async throws -> AgentInfo {
        try await call(.POST, "/v1/agents/\(Self.escape(reference))/turns", body: AgentTurnRequest(prompt: prompt))
    }

    /// The session's events after `since`; with `follow`, until the session ends.
    public func agentEvents(_ reference: String, since: Int64 = 0, follow: Bool = false) async throws
        -> AsyncThrowingStream<AgentEvent, any Error> {
        let response = try await send(.GET, "/v1/agents/\(Self.escape(reference))/events?since=\(since)" + (follow ? "&follow=1" : ""),
                                      body: nil, stream: true)
        return NDJSONLines.decode(AgentEvent.self, from: response.body)
    }

    /// The CLI's own output lines the session kept, oldest first.
    public func agentRawLines(_ reference: String) async throws -> AsyncThrowingStream<AgentRawLine, any Error> {
        let response = try await send(.GET, "/v1/agents/\(Self.escape(reference))/raw", body: nil, stream: true)
        return NDJSONLines.decode(AgentRawLine.self, from: response.body)
    }

    /// The session's changes from where its branch began.
    public func agentDiff(_ reference: String) async throws -> String {
        let answer: [String: String] = try await call(.GET, "/v1/agents/\(Self.escape(reference))/diff")
        return answer["diff"] ?? ""
    }

    /// Pushes the session's branch to the remote repository it was cloned from.
    public func pushAgent(_ reference: String) async throws -> AgentInfo {
        try await call(.POST, "/v1/agents/\(Self.escape(reference))/push")
    }

    public func stopAgent(_ reference: String) async throws -> AgentInfo {
        try await call(.POST, "/v1/agents/\(Self.escape(reference))/stop")
    }

    /// Removes a session and its worktree; its branch too with `deleteBranch`.
    public func removeAgent(_ reference: String, deleteBranch: Bool = false) async throws {
        let response = try await send(.DELETE, "/v1/agents/\(Self.escape(reference))" + (deleteBranch ? "?deleteBranch=1" : ""),
                                      body: nil, stream: false)
        _ = try await response.body.collect(upTo: 1 << 20)
    }
}
