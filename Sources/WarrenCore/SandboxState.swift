/// The lifecycle of a sandbox as an explicit state machine.
///
/// `created → starting → running → stopping → exited | failed`, plus `removed`.
/// Illegal transitions throw instead of silently succeeding.
public enum SandboxState: String, Codable, Sendable, CaseIterable {
    case created
    case starting
    case running
    case stopping
    case exited
    case failed
    case removed

    /// States from which no further run happens.
    public var isTerminal: Bool { self == .exited || self == .failed || self == .removed }

    /// States in which a process may be alive and must be stopped before removal.
    public var isActive: Bool { self == .starting || self == .running || self == .stopping }

    public func canTransition(to next: SandboxState) -> Bool {
        switch (self, next) {
        case (.created, .starting), (.created, .removed), (.created, .failed):
            true
        case (.starting, .running), (.starting, .failed), (.starting, .exited), (.starting, .stopping):
            true
        case (.running, .stopping), (.running, .exited), (.running, .failed):
            true
        case (.stopping, .exited), (.stopping, .failed):
            true
        case (.exited, .removed), (.failed, .removed):
            true
        default:
            false
        }
    }

    /// Returns `next` if the transition is legal, throws `invalidState` otherwise.
    public func transition(to next: SandboxState) throws -> SandboxState {
        guard canTransition(to: next) else {
            throw WarrenError(.invalidState, "cannot move a sandbox from \(rawValue) to \(next.rawValue)")
        }
        return next
    }
}
