import Foundation
import LinuxSupport
import Testing
import WarrenCore
import WarrenTestSupport

/// exec, attach, logs, signals and stop of Docker sandboxes through the real CLI.
@Suite("Docker sandboxes, interactive", .serialized)
struct DockerInteractiveTests {
    @Test("exec: stdin, exit codes, user, env, workdir; signals reach the exec'd process")
    func exec() async throws {
        let (d, owner) = try await DockerDriverTests.daemon()
        defer { TestDocker.removeLabelled(owner); d.cleanUp() }
        #expect(try await d.cli(["run", "-d", "--driver", "docker", "--name", "box", try await TestDocker.testImage(), "--", "sleep", "1000"]).status == 0)
        let cat = try await d.cli(["exec", "-i", "box", "--", "cat"], stdin: "through stdin\n")
        #expect(cat.status == 0 && cat.stdout == "through stdin\n", "\(cat.stderr)")
        #expect(try await d.cli(["exec", "box", "--", "sh", "-c", "exit 7"]).status == 7)
        let who = try await d.cli(["exec", "-u", "1000", "-e", "X=y", "-w", "/tmp", "box", "--", "sh", "-c", "id -u; echo $X; pwd; echo e >&2"])
        #expect(who.stdout == "1000\ny\n/tmp\n" && who.stderr == "e\n", "\(who.stdout) \(who.stderr)")
        let missing = try await d.cli(["exec", "box", "--", "/no/such/program"])
        #expect(missing.status != 0, "\(missing.stdout)")

        let p = d.cliProcess(["exec", "box", "--", "sh", "-c", "trap 'echo got-term; exit 9' TERM; echo ready; sleep 100 & wait"])
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let seen = try await runBlocking { () -> Data in
            var seen = Data()
            while !String(decoding: seen, as: UTF8.self).contains("ready") {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                seen.append(chunk)
            }
            kill(p.processIdentifier, SIGTERM)
            seen.append(out.fileHandleForReading.readDataToEndOfFile())
            p.waitForExit()
            return seen
        }
        #expect(String(decoding: seen, as: UTF8.self).contains("got-term") && p.terminationStatus == 9,
                "SIGTERM was not forwarded: \(String(decoding: seen, as: UTF8.self)) \(p.terminationStatus)")
    }

    @Test("exec -it: a terminal of its own with the window size, resize and Ctrl-C")
    func execTerminal() async throws {
        let (d, owner) = try await DockerDriverTests.daemon()
        defer { TestDocker.removeLabelled(owner); d.cleanUp() }
        #expect(try await d.cli(["run", "-d", "--driver", "docker", "--name", "box", try await TestDocker.testImage(), "--", "sleep", "1000"]).status == 0)
        let t = try TerminalSession(BuiltProducts.cli, ["exec", "-it", "box", "--", "/bin/sh"],
                                    environment: ["WARREN_HOST=unix://" + d.socket, "TERM=xterm", "PATH=/usr/bin:/bin"],
                                    rows: 21, cols: 77)
        defer { t.close() }
        t.type("tty; stty size\n")
        #expect(await t.waitFor("21 77"), "\(t.text)")
        #expect(t.text.contains("/dev/pts/"), "\(t.text)")
        #expect(await t.resizeReachesShell(rows: 40, cols: 100), "window change did not reach the process: \(t.text)")
        #expect(await t.interruptReachesShell(), "Ctrl-C did not interrupt: \(t.text)")
        t.type("exit 4\n")
        #expect(await t.waitForExit() == 4, "\(t.text)")
    }

    @Test("run -it: the main process on a terminal with the window size, resize, Ctrl-C and exit code; --rm leaves nothing")
    func runTerminal() async throws {
        let (d, owner) = try await DockerDriverTests.daemon()
        defer { TestDocker.removeLabelled(owner); d.cleanUp() }
        let t = try TerminalSession(BuiltProducts.cli, ["run", "--rm", "-it", "--driver", "docker", try await TestDocker.testImage(), "--", "/bin/sh"],
                                    environment: ["WARREN_HOST=unix://" + d.socket, "TERM=xterm", "PATH=/usr/bin:/bin"],
                                    rows: 33, cols: 101)
        defer { t.close() }
        t.type("stty size\n")
        #expect(await t.waitFor("33 101"), "\(t.text)")
        #expect(await t.resizeReachesShell(rows: 44, cols: 120), "window change did not reach the container: \(t.text)")
        #expect(await t.interruptReachesShell(), "Ctrl-C did not interrupt: \(t.text)")
        t.type("exit 6\n")
        #expect(await t.waitForExit() == 6, "\(t.text)")
        #expect(try await d.cli(["ps", "-a", "-q"]).stdout.isEmpty)
        #expect(try await TestDocker.docker(["ps", "-aq", "--filter", "label=\(owner)"]).isEmpty, "--rm left a container")
    }

    @Test("run -i feeds the main process; logs -f follows to the end")
    func attachAndLogs() async throws {
        let (d, owner) = try await DockerDriverTests.daemon()
        defer { TestDocker.removeLabelled(owner); d.cleanUp() }
        let image = try await TestDocker.testImage()
        let echoed = try await d.cli(["run", "--rm", "-i", "--driver", "docker", image, "--", "sh", "-c", "cat; echo end"], stdin: "line one\nline two\n")
        #expect(echoed.status == 0 && echoed.stdout == "line one\nline two\nend\n", "\(echoed.stdout) \(echoed.stderr)")

        #expect(try await d.cli(["run", "-d", "--driver", "docker", "--name", "talk", image, "--",
                           "sh", "-c", "echo one; sleep 1; echo two >&2; sleep 1; echo three; exit 3"]).status == 0)
        let follow = try await d.cli(["logs", "-f", "talk"])
        #expect(follow.stdout == "one\nthree\n" && follow.stderr == "two\n", "\(follow.stdout) | \(follow.stderr)")
        let info = try await DockerDriverTests.info(d, "talk")
        #expect(info.state == .exited && info.exitCode == 3)
    }

    @Test("stop: SIGTERM first, SIGKILL after the grace period; --timeout kills at the deadline")
    func stopAndTimeout() async throws {
        let (d, owner) = try await DockerDriverTests.daemon()
        defer { TestDocker.removeLabelled(owner); d.cleanUp() }
        let image = try await TestDocker.testImage()
        #expect(try await d.cli(["run", "-d", "--driver", "docker", "--name", "polite", image, "--", "sleep", "1000"]).status == 0)
        #expect(try await d.cli(["stop", "polite"]).status == 0)
        let polite = try await DockerDriverTests.info(d, "polite")
        #expect(polite.exitCode == 143 && polite.reason == "stopped", "\(polite)")

        #expect(try await d.cli(["run", "-d", "--driver", "docker", "--name", "stubborn", image, "--",
                           "sh", "-c", "trap '' TERM; while true; do sleep 1; done"]).status == 0)
        let started = Date()
        #expect(try await d.cli(["stop", "-t", "2", "stubborn"]).status == 0)
        let took = Date().timeIntervalSince(started)
        let stubborn = try await DockerDriverTests.info(d, "stubborn")
        #expect(stubborn.exitCode == 137 && took >= 1.9, "killed after the grace: \(stubborn), \(took)s")

        let timed = try await d.cli(["run", "--driver", "docker", "--name", "late", "--timeout", "1", image, "--", "sleep", "30"])
        #expect(timed.status == 137)
        let late = try await DockerDriverTests.info(d, "late")
        #expect(late.reason == "timeout", "\(late)")
    }
}
