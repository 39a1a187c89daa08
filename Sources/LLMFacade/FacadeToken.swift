import Crypto
import Foundation

/// The opaque tokens sandboxes present to the LLM facade instead of provider keys.
///
/// A token is `wrn_llm_` followed by 43 base64url characters (256 random bits); the
/// prefix lets secret scanners recognise a leaked one. Only its SHA-256 is stored, and
/// a presented token is checked by hashing it and comparing the hashes in constant time.
public enum FacadeToken {
    public static let prefix = "wrn_llm_"

    /// A new random token.
    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 32)
        for i in bytes.indices { bytes[i] = rng.next() }
        return prefix + base64URL(bytes)
    }

    /// Hex SHA-256 of the token: what the store keeps.
    public static func hash(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Whether `text` has the shape of a token (prefix and 43 base64url characters).
    public static func isWellFormed(_ text: String) -> Bool {
        guard text.hasPrefix(prefix) else { return false }
        let body = text.utf8.dropFirst(prefix.utf8.count)
        return body.count == 43 && body.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x2d || b == 0x5f
        }
    }

    /// True when `presented` hashes to `storedHash`, comparing every byte whatever differs.
    public static func matches(_ presented: String, storedHash: String) -> Bool {
        let a = Array(hash(presented).utf8), b = Array(storedHash.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
