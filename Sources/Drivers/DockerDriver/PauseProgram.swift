#if canImport(Glibc)
import Glibc
#endif
import Foundation
import WarrenCore

/// The program a Docker sandbox's network-namespace holder runs: a static Linux ELF of a
/// few hundred bytes that waits for signals forever, so it runs in any image whatever
/// its libc (or none). Docker's `kill` ends it; as PID 1 it ignores everything else.
///
/// It is assembled here rather than built: SwiftPM links every executable through the
/// Swift driver, which cannot make a static program free of the Swift runtime.
public enum PauseProgram {
    /// The machine code of one loop that blocks in the kernel, per architecture.
    static func loop(for machine: String) -> (elfMachine: UInt16, code: [UInt8])? {
        switch machine {
        case "x86_64":
            // mov eax, 34 (pause); syscall; jmp back to the mov.
            return (62, [0xB8, 0x22, 0x00, 0x00, 0x00, 0x0F, 0x05, 0xEB, 0xF7])
        case "aarch64", "arm64":
            // x0..x3 = 0; x8 = 73 (ppoll, which waits forever with no fds and no timeout);
            // svc #0; b back to the first mov.
            let words: [UInt32] = [0xD280_0000, 0xD280_0001, 0xD280_0002, 0xD280_0003,
                                   0xD280_0928, 0xD400_0001, 0x17FF_FFFA]
            return (183, words.flatMap { littleEndian($0) })
        default:
            return nil
        }
    }

    /// Where the program is loaded; aligned for 4 KiB and 64 KiB pages alike.
    static let base: UInt64 = 0x40_0000
    static let headerSize = 64
    static let programHeaderSize = 56

    /// The whole ELF file for `machine` (as `uname -m` names it), or nil when Warren has
    /// no loop for that architecture.
    public static func image(for machine: String) -> [UInt8]? {
        guard let (elfMachine, code) = loop(for: machine) else { return nil }
        let codeOffset = headerSize + 2 * programHeaderSize
        let size = UInt64(codeOffset + code.count)
        var file: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        file += littleEndian(UInt16(2))                       // ET_EXEC
        file += littleEndian(elfMachine)
        file += littleEndian(UInt32(1))                       // EV_CURRENT
        file += littleEndian(base + UInt64(codeOffset))       // entry
        file += littleEndian(UInt64(headerSize))              // program headers
        file += littleEndian(UInt64(0))                       // no section headers
        file += littleEndian(UInt32(0))                       // flags
        file += littleEndian(UInt16(headerSize))
        file += littleEndian(UInt16(programHeaderSize))
        file += littleEndian(UInt16(2))
        file += littleEndian(UInt16(64)) + littleEndian(UInt16(0)) + littleEndian(UInt16(0))
        // PT_LOAD, read and execute: the whole file at `base`.
        file += littleEndian(UInt32(1)) + littleEndian(UInt32(5))
        file += littleEndian(UInt64(0)) + littleEndian(base) + littleEndian(base)
        file += littleEndian(size) + littleEndian(size) + littleEndian(UInt64(0x1_0000))
        // PT_GNU_STACK, read and write: a stack that is not executable.
        file += littleEndian(UInt32(0x6474_E551)) + littleEndian(UInt32(6))
        file += [UInt8](repeating: 0, count: 5 * 8) + littleEndian(UInt64(16))
        return file + code
    }

    /// Writes the program for this host's architecture to `path` (mode 0755), replacing
    /// any older copy by a rename so that holders running it are not disturbed.
    /// - Returns: `path`, or nil when Warren has no program for this architecture.
    public static func install(at path: String) throws -> String? {
        guard let bytes = image(for: hostMachine()) else { return nil }
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let existing = FileManager.default.contents(atPath: path), [UInt8](existing) == bytes,
           FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        let temporary = path + ".tmp-\(getpid())"
        do {
            guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes),
                                                 attributes: [.posixPermissions: 0o755]) else {
                throw WarrenError(.internalError, "cannot write \(temporary)")
            }
            guard rename(temporary, path) == 0 else {
                throw WarrenError(.internalError, "cannot install \(path): \(String(cString: strerror(errno)))")
            }
        } catch {
            unlink(temporary)
            throw error
        }
        return path
    }

    /// This host's architecture as `uname -m` prints it.
    static func hostMachine() -> String {
        var names = utsname()
        uname(&names)
        return withUnsafeBytes(of: &names.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    private static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}
