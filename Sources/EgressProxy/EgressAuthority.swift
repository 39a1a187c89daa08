import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOSSL
import SwiftASN1
import WarrenCore
import X509

/// The daemon's egress certificate authority: made once per data root, trusted by the
/// sandboxes that have secrets, and used to terminate TLS for the hosts whose secrets the
/// proxy adds. It signs a short-lived certificate per host on demand and keeps the TLS
/// contexts; its key never leaves the daemon's data root (mode 0600).
public final class EgressAuthority: Sendable {
    /// The CA certificate, PEM, as guests trust it.
    public let certificatePEM: String
    private let certificate: Certificate
    private let key: P256.Signing.PrivateKey
    private let contexts = NIOLockedValueBox<[String: NIOSSLContext]>([:])
    /// Origins' TLS, checked against the system's roots and any `extraTrust`.
    public let originContext: NIOSSLContext

    /// Loads the authority under `directory`, making it the first time.
    public init(directory: String, extraTrust: String? = nil) throws {
        let certPath = directory + "/ca.pem", keyPath = directory + "/ca.key"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            if let certText = try? String(contentsOfFile: certPath, encoding: .utf8),
               let keyText = try? String(contentsOfFile: keyPath, encoding: .utf8) {
                key = try P256.Signing.PrivateKey(pemRepresentation: keyText)
                certificate = try Certificate(pemEncoded: certText)
            } else {
                key = P256.Signing.PrivateKey()
                let name = try DistinguishedName {
                    OrganizationName("Warren")
                    CommonName("Warren egress CA \(UUID().uuidString.prefix(8))")
                }
                let now = Date()
                certificate = try Certificate(
                    version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
                    notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(10 * 365 * 86_400),
                    issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
                    extensions: try Certificate.Extensions {
                        Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                        Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                    },
                    issuerPrivateKey: .init(key))
                try Self.write(key.pemRepresentation, to: keyPath, mode: 0o600)
                try Self.write(try certificate.serializeAsPEM().pemString, to: certPath, mode: 0o644)
            }
            certificatePEM = try certificate.serializeAsPEM().pemString
            var client = TLSConfiguration.makeClientConfiguration()
            client.applicationProtocols = ["http/1.1"]
            if let extraTrust { client.additionalTrustRoots = [.file(extraTrust)] }
            originContext = try NIOSSLContext(configuration: client)
        } catch let error as WarrenError {
            throw error
        } catch {
            throw WarrenError(.internalError, "cannot set up the egress certificate authority in \(directory): \(error)")
        }
    }

    /// The TLS server context for `host` (a name or an address), signed by this authority.
    public func serverContext(for host: String) throws -> NIOSSLContext {
        if let cached = contexts.withLockedValue({ $0[host] }) { return cached }
        let leafKey = P256.Signing.PrivateKey()
        let name: GeneralName
        if let address = IPAddress(EgressPolicy.unbracketed(host)) {
            name = .ipAddress(ASN1OctetString(contentBytes: ArraySlice(address.isIPv4 ? Array(address.bytes.suffix(4)) : address.bytes)))
        } else {
            name = .dnsName(host)
        }
        let now = Date()
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(leafKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(7 * 86_400),
            issuer: certificate.subject, subject: try DistinguishedName { CommonName(String(host.prefix(64))) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([name])
            },
            issuerPrivateKey: .init(key))
        var server = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(try leaf.serializeAsPEM().pemString.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(leafKey.pemRepresentation.utf8), format: .pem)))
        server.applicationProtocols = ["http/1.1"]
        let context = try NIOSSLContext(configuration: server)
        contexts.withLockedValue { cache in
            // A hostile guest naming endless hosts does not grow this without bound.
            if cache.count >= 1024 { cache.removeAll() }
            cache[host] = context
        }
        return context
    }

    static func write(_ text: String, to path: String, mode: mode_t) throws {
        let tmp = path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8), attributes: [.posixPermissions: Int(mode)]) else {
            throw WarrenError(.internalError, "cannot write \(tmp)")
        }
        guard rename(tmp, path) == 0 else { throw WarrenError(.internalError, "cannot write \(path): \(String(cString: strerror(errno)))") }
    }
}

/// Headers the proxy adds for a host on the sandbox's behalf (a token, a key); the
/// sandbox never sees them. Configured on the daemon, named by sandboxes.
public struct EgressSecret: Codable, Sendable, Equatable {
    /// Host patterns (as allow patterns, without ports or blocks) the headers go to.
    public var hosts: [String]
    /// Header name → value, replacing any the sandbox sent.
    public var headers: [String: String]

    public init(hosts: [String], headers: [String: String]) { self.hosts = hosts; self.headers = headers }

    /// Checks the hosts and headers (a 400 naming the first problem).
    public func validate(_ name: String) throws {
        guard !hosts.isEmpty, !headers.isEmpty else {
            throw WarrenError(.invalidArgument, "egress secret '\(name)' needs hosts and headers")
        }
        for host in hosts {
            let rule = try EgressRule(parsing: host)
            guard rule.port == nil, case .host = rule.target else {
                throw WarrenError(.invalidArgument, "egress secret '\(name)': '\(host)' is not a host name")
            }
        }
        for (field, value) in headers {
            guard !field.isEmpty, field.utf8.count <= 128, field.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }),
                  value.utf8.count <= 8192, !value.contains(where: { $0 == "\r" || $0 == "\n" }) else {
                throw WarrenError(.invalidArgument, "egress secret '\(name)' has a header that is not NAME: VALUE on one line")
            }
        }
    }
}
