import Foundation
import NativeDriver
import RuntimeDriver
import Testing
import WarrenCore
import WarrenTestSupport

/// Input, terminals and signals of native sandboxes: what `run -it` and `exec -it` stand on.
@Suite("Native driver: stdin, terminals, signals", .serialized)
struct NativeInteractiveTests {
    /// Collects an output stream in the background so a test can wait for text to appear.
    final class Collector: @unchecked Sendable {
        private let lock = NSLock()
        private var bytes: [UInt8] = []
        private(set) var exitCode: Int32?

        func add(_ b: [UInt8]) { lock.lock(); bytes += b; lock.unlock() }
        func finish(_ code: Int32?) { lock.lock(); exitCode = code; lock.unlock() }
        var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: bytes, as: UTF8.self) }
        var exited: Int32? { lock.lock(); defer { lock.unlock() }; return exitCode }

        /// Waits until the output contains `needle`; false after `seconds`.
        func waitFor(_ needle: String, seconds: Double = 10) async -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if text.contains(needle) { return true }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return text.contains(needle)
        }

        func waitForExit(seconds: Double = 10) async -> Int32? {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline, exited == nil { try? await Task.sleep(for: .milliseconds(20)) }
            return exited
        }
    }

    static func collect(_ stream: AsyncThrowingStream<OutputChunk, any Error>) -> Collector {
        let c = Collector()
        Task {
            var code: Int32?
            for try await chunk in stream {
                if chunk.stream == "exit" { code = chunk.exitCode } else { c.add(chunk.bytes) }
            }
            c.finish(code ?? -1)
        }
        return c
    }

    static func collectLogs(_ f: DriverFixture, _ id: String) async throws -> Collector {
        let c = Collector()
        let logs = try await f.driver.logs(id: id, follow: true)
        Task {
            for try await r in logs { c.add(r.payload) }
        }
        return c
    }

    @Test("exec -t: the process has a terminal of the sandbox's own devpts, its size, resize and Ctrl-C")
    func execTerminal() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let id = SandboxID.generate()
        try await f.driver.create(id: id, spec: try f.spec(["/bin/sleep", "1000"]))
        _ = try await f.driver.start(id: id)
        let session = try await f.driver.exec(id: id, request: ExecRequest(
            command: ["/bin/sh"], tty: true, stdin: true, consoleSize: TerminalSize(rows: 31, cols: 97)))
        let out = Self.collect(session.output)

        try await session.writeStdin(Array("tty; stty size\n".utf8))
        #expect(await out.waitFor("31 97"), "\(out.text)")
        #expect(out.text.contains("/dev/pts/0"), "the slave must be the sandbox's own /dev/pts/0: \(out.text)")

        try await session.resize(40, 120)
        try await session.writeStdin(Array("stty size\n".utf8))
        #expect(await out.waitFor("40 120"), "\(out.text)")

        // Ctrl-C reaches the foreground job through the terminal, not the shell.
        // The quotes keep the echoed command line from matching the output.
        try await session.writeStdin(Array("sleep 100; echo sl''ept\n".utf8))
        try await Task.sleep(for: .milliseconds(300))
        try await session.writeStdin([0x03])
        try await session.writeStdin(Array("echo after-$((6*7))\n".utf8))
        #expect(await out.waitFor("after-42", seconds: 5), "Ctrl-C did not interrupt sleep: \(out.text)")
        #expect(!out.text.contains("slept"))

        try await session.writeStdin(Array("exit 5\n".utf8))
        #expect(await out.waitForExit() == 5)
        try await f.driver.remove(id: id)
    }

    @Test("exec -i without a terminal: stdin is a pipe and end of input reaches the process")
    func execStdin() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let id = SandboxID.generate()
        try await f.driver.create(id: id, spec: try f.spec(["/bin/sleep", "1000"]))
        _ = try await f.driver.start(id: id)
        let session = try await f.driver.exec(id: id, request: ExecRequest(command: ["/bin/sh", "-c", "tr a-z A-Z; echo eof"], stdin: true))
        let out = Self.collect(session.output)
        try await session.writeStdin(Array("hello sandbox\n".utf8))
        try await session.closeStdin()
        #expect(await out.waitForExit() == 0)
        #expect(out.text == "HELLO SANDBOX\neof\n")
        await #expect(throws: WarrenError.self) { try await session.resize(10, 10) }
        try await f.driver.remove(id: id)
    }

    @Test("run -i: the main process reads what an attached client sends, then end of input")
    func mainProcessStdin() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let id = SandboxID.generate()
        try await f.driver.create(id: id, spec: try f.spec(["/bin/sh", "-c", "read a; echo got:$a; cat; echo done"]) { $0.stdin = true })
        _ = try await f.driver.start(id: id)
        let attach = try await f.driver.attach(id: id)
        try await attach.writeStdin(Array("first\n".utf8))
        try await attach.writeStdin(Array("second\nthird\n".utf8))
        try await attach.closeStdin()
        await attach.detach()
        let exit = try await f.driver.wait(id: id)
        let (out, _) = try await f.output(id)
        #expect(exit.exitCode == 0)
        #expect(out == "got:first\nsecond\nthird\ndone\n")
        try await f.driver.remove(id: id)
    }

    @Test("run -t: the main process's terminal is made inside, sized, and resizes reach it")
    func mainProcessTerminal() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let id = SandboxID.generate()
        try await f.driver.create(id: id, spec: try f.spec(["/bin/sh"]) {
            $0.tty = true; $0.stdin = true; $0.consoleSize = TerminalSize(rows: 25, cols: 91)
        })
        _ = try await f.driver.start(id: id)
        let out = try await Self.collectLogs(f, id)
        let attach = try await f.driver.attach(id: id)
        try await attach.writeStdin(Array("tty; stty size\n".utf8))
        #expect(await out.waitFor("25 91"), "\(out.text)")
        #expect(out.text.contains("/dev/pts/0"), "\(out.text)")
        try await attach.resize(50, 132)
        try await attach.writeStdin(Array("stty size; exit 9\n".utf8))
        #expect(try await f.driver.wait(id: id).exitCode == 9)
        #expect(await out.waitFor("50 132"), "\(out.text)")
        await attach.detach()
        try await f.driver.remove(id: id)
    }

    @Test("attach is refused for a sandbox started without -i or -t")
    func attachNeedsInput() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let id = SandboxID.generate()
        try await f.driver.create(id: id, spec: try f.spec(["/bin/sleep", "1000"]))
        _ = try await f.driver.start(id: id)
        await #expect(throws: WarrenError.self) { _ = try await f.driver.attach(id: id) }
        try await f.driver.remove(id: id)
    }

    @Test("kill forwards a signal to the main process; others are refused")
    func signals() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let id = SandboxID.generate()
        try await f.driver.create(id: id, spec: try f.spec(["/bin/sh", "-c", "trap 'echo got-int; exit 42' INT; echo ready; while :; do sleep 0.05; done"]))
        _ = try await f.driver.start(id: id)
        let out = try await Self.collectLogs(f, id)
        #expect(await out.waitFor("ready"))
        await #expect(throws: WarrenError.self) { try await f.driver.kill(id: id, signal: SIGSTOP) }
        try await f.driver.kill(id: id, signal: SIGINT)
        #expect(try await f.driver.wait(id: id).exitCode == 42)
        #expect(await out.waitFor("got-int"))
        try await f.driver.remove(id: id)
    }
}
