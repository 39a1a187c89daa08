#if canImport(Glibc)
import Glibc
#endif
import DockerDriver
import Foundation
import Testing

@Suite("Network holder program")
struct PauseProgramTests {
    @Test("the ELF is a static executable for each architecture Warren knows, and nothing for the others")
    func headers() throws {
        for (machine, elfMachine) in [("x86_64", UInt16(62)), ("aarch64", UInt16(183))] {
            let bytes = try #require(PauseProgram.image(for: machine))
            #expect(Array(bytes.prefix(4)) == [0x7F, 0x45, 0x4C, 0x46] && bytes[4] == 2 && bytes[5] == 1)
            #expect(UInt16(bytes[18]) | UInt16(bytes[19]) << 8 == elfMachine)
            #expect(bytes[16] == 2, "ET_EXEC: no interpreter, no libc")
            #expect(bytes.count < 512)
        }
        #expect(PauseProgram.image(for: "riscv64") == nil)
    }

    @Test("installed, it runs, stays asleep in the kernel, and dies of SIGKILL")
    func runs() throws {
        var names = utsname()
        uname(&names)
        let machine = withUnsafeBytes(of: &names.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        try #require(PauseProgram.image(for: machine) != nil, "no program for \(machine)")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warren-pause-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try #require(try PauseProgram.install(at: directory + "/pause"))
        #expect(try PauseProgram.install(at: path) == path, "installing again keeps the same file")
        #expect(FileManager.default.isExecutableFile(atPath: path))

        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
        defer { argv.forEach { free($0) } }
        // Another test's process started at the moment the file was written may still hold
        // it open for writing (ETXTBSY) until that process execs: try again briefly.
        var rc = posix_spawn(&pid, path, nil, nil, argv, nil)
        for _ in 0..<100 where rc == ETXTBSY {
            usleep(20_000)
            rc = posix_spawn(&pid, path, nil, nil, argv, nil)
        }
        #expect(rc == 0)
        // Still alive and asleep after a while; then killed as `docker kill` does.
        usleep(200_000)
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let state = stat.split(separator: ")").last?.split(separator: " ").first
        #expect(state == "S", "asleep in pause(), not spinning or dead: \(stat)")
        kill(pid, SIGKILL)
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        #expect(status & 0x7F == SIGKILL, "killed by the signal, not exited on its own")
    }
}
