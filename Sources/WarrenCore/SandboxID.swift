/// Sandbox identifiers: 64 lowercase hex characters, shown by their first 12.
public enum SandboxID {
    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        var s = ""
        s.reserveCapacity(64)
        for _ in 0..<4 {
            let v = rng.next() as UInt64
            let hex = String(v, radix: 16)
            s += String(repeating: "0", count: 16 - hex.count) + hex
        }
        return s
    }

    /// Names follow Docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
    public static func validateName(_ name: String) throws {
        guard let first = name.unicodeScalars.first, name.count <= 128,
              first.properties.isASCIIHexDigit || ("a"..."z").contains(first) || ("A"..."Z").contains(first) || ("0"..."9").contains(first),
              name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "_.-".unicodeScalars.contains($0) })
        else {
            throw WarrenError(.invalidArgument, "invalid name '\(name)': use letters, digits, '_', '.', '-'")
        }
    }
}
