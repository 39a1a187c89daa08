/// The lifecycle of an agent session.
///
/// `starting → running ⇄ idle` (an interactive session starts idle), and from there `completed` (ended between turns),
/// `stopped` (ended during a turn) or `failed` (a turn failed, or its sandbox was lost).
public enum AgentState: String, Codable, Sendable, CaseIterable {
    case starting
    /// A turn is under way.
    case running
    /// Between turns: the sandbox waits for a follow-up.
    case idle
    case completed
    case stopped
    case failed

    /// States a session never leaves.
    public var isFinal: Bool { self == .completed || self == .stopped || self == .failed }

    public func canTransition(to next: AgentState) -> Bool {
        switch (self, next) {
        case (.starting, .running), (.starting, .idle), (.starting, .failed), (.starting, .stopped):
            true
        case (.running, .idle), (.running, .failed), (.running, .stopped):
            true
        case (.idle, .running), (.idle, .completed), (.idle, .failed):
            true
        default:
            false
        }
    }

    public func transition(to next: AgentState) throws -> AgentState {
        guard canTransition(to: next) else {
            throw WarrenError(.invalidState, "cannot move an agent session from \(rawValue) to \(next.rawValue)")
        }
        return next
    }
}
