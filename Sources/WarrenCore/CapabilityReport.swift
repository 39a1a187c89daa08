/// What a driver enforces, dimension by dimension, stated truthfully.
public struct CapabilityReport: Codable, Sendable, Equatable {
    public var dimensions: [Dimension]

    public init(_ dimensions: [Dimension]) { self.dimensions = dimensions }

    public struct Dimension: Codable, Sendable, Equatable {
        /// Stable key, e.g. `user_namespace`, `seccomp`, `memory_limit`.
        public var name: String
        public var status: Status
        /// How it is enforced on this host, or why not.
        public var detail: String

        public init(_ name: String, _ status: Status, _ detail: String) {
            self.name = name; self.status = status; self.detail = detail
        }
    }

    public enum Status: String, Codable, Sendable {
        /// Always applied.
        case enforced
        /// Applied when the spec asks for it.
        case optional
        /// Not applied by this driver on this host.
        case unsupported
    }

    public subscript(name: String) -> Dimension? { dimensions.first { $0.name == name } }
}
