/// A setup step inside the helper failed for a reason that is not one syscall's errno.
public struct SandboxSetupError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
