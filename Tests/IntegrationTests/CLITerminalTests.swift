import Foundation
import LinuxSupport
import Testing
import WarrenTestSupport

/// `run -it` and `exec -it` from a real terminal: raw mode, the window size and its
/// changes, Ctrl-C and exit codes, all through CLI, daemon and sandbox.
@Suite("CLI at a terminal", .serialized)
struct CLITerminalTests {
    func environment(_ d: DaemonHarness) -> [String] {
        ["WARREN_HOST=unix://" + d.socket, "TERM=xterm", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    }

    @Test("run -it: a shell with the terminal's size, resize, Ctrl-C, exit code; --rm leaves nothing")
    func runInteractiveTerminal() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let t = try TerminalSession(BuiltProducts.cli, ["run", "--rm", "-it", "--rootfs", try TestRootfs.path(), "--", "/bin/sh"],
                                    environment: environment(d), rows: 33, cols: 101)
        defer { t.close() }
        t.type("tty; stty size\n")
        #expect(await t.waitFor("33 101"), "\(t.text)")
        #expect(t.text.contains("/dev/pts/0"), "\(t.text)")

        #expect(await t.resizeReachesShell(rows: 44, cols: 120), "window change did not reach the sandbox: \(t.text)")
        #expect(await t.interruptReachesShell(), "Ctrl-C did not interrupt: \(t.text)")

        t.type("exit 6\n")
        #expect(await t.waitForExit() == 6, "\(t.text)")
        let ps = try await d.cli(["ps", "-a", "-q"])
        #expect(ps.stdout.isEmpty, "--rm left \(ps.stdout)")
    }

    @Test("exec -it joins a running sandbox on a terminal of its own")
    func execInteractiveTerminal() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let run = try await d.cli(["run", "-d", "--name", "box", "--rootfs", try TestRootfs.path(), "--", "/bin/sleep", "1000"])
        #expect(run.status == 0, "\(run.stderr)")
        let t = try TerminalSession(BuiltProducts.cli, ["exec", "-it", "box", "--", "/bin/sh"],
                                    environment: environment(d), rows: 20, cols: 70)
        defer { t.close() }
        t.type("stty size; echo $((1+2))x\n")
        #expect(await t.waitFor("20 70"), "\(t.text)")
        #expect(await t.waitFor("3x"), "\(t.text)")
        t.type("exit 4\n")
        #expect(await t.waitForExit() == 4, "\(t.text)")
        #expect(try await d.cli(["rm", "-f", "box"]).status == 0)
    }

    @Test("exec -t without -i: the terminal stays cooked and Ctrl-C is forwarded as SIGINT")
    func ttyWithoutStdin() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        #expect(try await d.cli(["run", "-d", "--name", "box", "--rootfs", try TestRootfs.path(), "--", "/bin/sleep", "1000"]).status == 0)
        let t = try TerminalSession(BuiltProducts.cli, ["exec", "-t", "box", "--", "/bin/sh", "-c",
                                                        "trap 'echo got-int; exit 42' INT; tty; echo ready; while :; do sleep 0.05; done"],
                                    environment: environment(d))
        defer { t.close() }
        #expect(await t.waitFor("ready"), "\(t.text)")
        #expect(t.text.contains("/dev/pts/"), "\(t.text)")
        t.type([0x03])
        #expect(await t.waitForExit() == 42, "\(t.text)")
        #expect(t.text.contains("got-int"))
        #expect(try await d.cli(["rm", "-f", "box"]).status == 0)
    }

    @Test("-i without a terminal: piped stdin reaches the process and its end closes it")
    func pipedStdin() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let r = try await d.cli(["run", "--rm", "-i", "--rootfs", try TestRootfs.path(), "--", "/bin/sh", "-c", "tr a-z A-Z; echo end"],
                          stdin: "quiet agent\n")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "QUIET AGENT\nend\n")
        let e = try await d.cli(["run", "-d", "--name", "s", "--rootfs", try TestRootfs.path(), "--", "/bin/sleep", "1000"])
        #expect(e.status == 0)
        let x = try await d.cli(["exec", "-i", "s", "--", "/bin/sh", "-c", "wc -c"], stdin: String(repeating: "y", count: 300_000))
        #expect(x.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "300000", "\(x.stderr)")
        #expect(try await d.cli(["rm", "-f", "s"]).status == 0)
    }

    @Test("-it without a terminal is refused with a clear error")
    func ttyNeedsTerminal() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let r = try await d.cli(["run", "-it", "--rootfs", try TestRootfs.path(), "--", "/bin/sh"])
        #expect(r.status == 125)
        #expect(r.stderr.contains("not a TTY"))
    }

    @Test("Ctrl-C on a plain run is forwarded to the sandbox as SIGINT")
    func signalProxy() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: BuiltProducts.cli)
        p.arguments = ["run", "--rm", "--rootfs", try TestRootfs.path(), "--", "/bin/sh", "-c",
                       "trap 'echo got-int; exit 42' INT; echo ready; while :; do sleep 0.05; done"]
        p.environment = ["WARREN_HOST": "unix://" + d.socket]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("ready") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += chunk
        }
        kill(p.processIdentifier, SIGINT)
        seen += out.fileHandleForReading.readDataToEndOfFile()
        try await runBlocking { p.waitForExit() }
        #expect(p.terminationStatus == 42)
        #expect(String(decoding: seen, as: UTF8.self).contains("got-int"))
    }
}
