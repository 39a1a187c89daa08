import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import WarrenClient
import WarrenCore

/// `warren run`: create and start a sandbox, then follow its output and exit with its code.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a command in a new sandbox.",
        usage: "warren run [OPTIONS] --rootfs DIR -- COMMAND [ARG...]\n       warren run [OPTIONS] IMAGE -- COMMAND [ARG...]")

    @OptionGroup var client: ClientOptions

    @Flag(name: .customLong("rm"), help: "Remove the sandbox when it exits.")
    var autoRemove = false
    @Flag(name: .shortAndLong, help: "Run in the background and print the sandbox id.")
    var detach = false
    @Option(help: "Name of the sandbox.")
    var name: String?
    @Option(name: [.customShort("e"), .customLong("env")], help: "Set an environment variable (KEY=VALUE).")
    var env: [String] = []
    @Option(name: [.customShort("w"), .customLong("workdir")], help: "Working directory inside the sandbox.")
    var workdir: String?
    @Option(name: .customLong("mount"), help: "Bind mount SRC:DST[:ro].")
    var mounts: [String] = []
    @Option(help: "Memory limit, e.g. 512m or 2g.")
    var memory: String?
    @Option(help: "CPUs, e.g. 1.5.")
    var cpus: Double?
    @Option(name: .customLong("pids-limit"), help: "Maximum number of processes.")
    var pidsLimit: Int?
    @Option(help: "Maximum number of open files.")
    var nofile: Int?
    @Option(help: "Largest file the sandbox may write, e.g. 100m.")
    var fsize: String?
    @Option(help: "Kill the sandbox after this many seconds.")
    var timeout: Double?
    @Option(name: .customLong("log-max"), help: "Output the sandbox's log keeps (its last), e.g. 16m (default 64m).")
    var logMax: String?
    @Option(help: "Most the sandbox's writable layer may hold, e.g. 1g (enforced by the kernel).")
    var disk: String?
    @Option(help: "Network policy: none (loopback only), or internal (Docker driver: a network of its own with no route out).")
    var network: String = "none"
    @Flag(name: .customLong("read-only"), help: "Mount the root filesystem read-only.")
    var readOnly = false
    @Option(name: .customLong("cap-add"), help: "Keep a capability (e.g. NET_BIND_SERVICE).")
    var capAdd: [String] = []
    @Option(name: .shortAndLong, help: "User inside the sandbox: uid[:gid] or a name.")
    var user: String?
    @Option(help: "Hostname inside the sandbox.")
    var hostname: String?
    @Option(help: "Driver to use (default: the daemon's).")
    var driver: String?
    @Option(help: "Host directory to use as the root filesystem.")
    var rootfs: String?
    @Option(name: .customLong("label"), help: "Label KEY=VALUE.")
    var labels: [String] = []
    @Option(help: "Give the sandbox models through the LLM facade: openai, anthropic or both (comma-separated).")
    var llm: String?
    @Option(name: .customLong("llm-models"), help: "Models the sandbox may use, comma-separated (default: any).")
    var llmModels: String?
    @Option(name: .customLong("llm-budget-tokens"), help: "Input plus output tokens the sandbox may use in all.")
    var llmBudgetTokens: Int64?
    @Option(name: .customLong("llm-budget-requests"), help: "Model calls the sandbox may make in all.")
    var llmBudgetRequests: Int64?
    @Option(name: .customLong("llm-rpm"), help: "Model calls the sandbox may make per minute.")
    var llmRPM: Int?
    @OptionGroup(title: "Egress") var egress: EgressOptions
    @Flag(help: "Run Jupyter Server as the main process (the image's launcher, warren-notebook); open it with `warren notebook ID`.")
    var notebook = false
    @Flag(name: .shortAndLong, help: "Keep stdin open and send it to the sandbox.")
    var interactive = false
    @Flag(name: .shortAndLong, help: "Give the sandbox a terminal (with -i: raw mode, resize, Ctrl-C).")
    var tty = false

    @Argument(help: "Image reference (when not using --rootfs).")
    var image: String?
    @Argument(parsing: .postTerminator, help: "The command to run, after --.")
    var command: [String] = []

    func run() async throws {
        let spec: SandboxSpec
        let warren: WarrenClient
        do {
            spec = try makeSpec()
            warren = try client.client()
        } catch {
            throw CLIFailure.beforeRun(error)
        }
        let info: SandboxInfo
        do {
            info = try await warren.createSandbox(spec)
        } catch let error as WarrenError where error.code == .commandNotFound {
            // As `docker run`: a command that is not there exits 127.
            throw CLIFailure(error.message, code: 127)
        } catch {
            throw CLIFailure.beforeRun(error)
        }
        if detach {
            Output.line(info.id)
            if notebook { Output.error("open the notebook with: warren notebook \(info.shortID)") }
            return
        }
        let code = try await Attach.follow(warren, sandbox: info.id, stdin: interactive, tty: tty)
        if autoRemove {
            do {
                try await warren.remove(info.id, force: true)
            } catch {
                Output.error("cannot remove sandbox \(info.shortID): \((error as? WarrenError)?.message ?? "\(error)")")
            }
        }
        throw ExitCode(code)
    }

    /// The spec from the flags; checks what can be checked without the daemon.
    func makeSpec() throws -> SandboxSpec {
        if interactive && tty && !detach && !Terminal.isTerminal(STDIN_FILENO) {
            throw WarrenError(.invalidArgument, "the input device is not a TTY: drop -t, or run from a terminal")
        }
        if notebook && (tty || interactive) {
            throw WarrenError(.invalidArgument, "--notebook runs Jupyter Server as the main process: drop -i and -t")
        }
        guard !command.isEmpty || image != nil else {
            throw WarrenError(.invalidArgument, "no command given: put it after --, e.g. warren run --rootfs DIR -- /bin/sh -c 'echo hi'")
        }
        if rootfs != nil, image != nil {
            throw WarrenError(.invalidArgument, "give either --rootfs or an IMAGE, not both (the command goes after --)")
        }
        var rootPath: String?
        if let rootfs {
            let absolute = URL(fileURLWithPath: rootfs).standardizedFileURL.path
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw WarrenError(.invalidArgument, "rootfs \(rootfs) is not a directory")
            }
            rootPath = absolute
        } else if image == nil {
            throw WarrenError(.invalidArgument, "a sandbox needs --rootfs DIR or an IMAGE")
        }
        guard let networkMode = NetworkMode(rawValue: network) else {
            throw WarrenError(.invalidArgument, "unknown network policy '\(network)' (supported: none, internal)")
        }
        let labelMap = try Labels.parse(labels)
        let limits = ResourceLimits(
            memoryBytes: try memory.map(ByteSize.parse), cpus: cpus, pids: pidsLimit, openFiles: nofile,
            fileSizeBytes: try fsize.map(ByteSize.parse), timeoutSeconds: timeout,
            logBytes: try logMax.map(ByteSize.parse), diskBytes: try disk.map(ByteSize.parse))
        let spec = try SandboxSpec(
            name: name, rootfs: rootPath, image: image, command: command, env: env, workdir: workdir, user: user,
            driver: driver, mounts: try mounts.map(MountSpec.parse), limits: limits, network: networkMode,
            readOnlyRootfs: readOnly, capAdd: capAdd, tty: tty, stdin: interactive, hostname: hostname,
            labels: labelMap, autoRemove: autoRemove && detach, consoleSize: tty ? Terminal.size() : nil,
            llm: llmAccess(), notebook: notebook, egress: egress.access())
        try spec.validate()
        return spec
    }

    /// `--llm` and its limits; the limits without `--llm` are a mistake.
    func llmAccess() throws -> LLMAccess? {
        guard let llm else {
            if llmModels != nil || llmBudgetTokens != nil || llmBudgetRequests != nil || llmRPM != nil {
                throw WarrenError(.invalidArgument, "--llm-models, --llm-budget-* and --llm-rpm need --llm PROVIDERS")
            }
            return nil
        }
        let providers = llm.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let models = (llmModels ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return LLMAccess(providers: providers, models: models, budgetTokens: llmBudgetTokens,
                         budgetRequests: llmBudgetRequests, requestsPerMinute: llmRPM)
    }
}

/// Following a sandbox's output to the terminal.
enum Attach {
    /// Streams the output until the sandbox ends; returns its exit code (125 when
    /// unknown). With `stdin` or `tty` the terminal is attached to the sandbox's input;
    /// otherwise terminating signals are forwarded to it.
    static func follow(_ warren: WarrenClient, sandbox id: String, stdin: Bool = false, tty: Bool = false) async throws -> Int32 {
        var exitCode: Int32?
        do {
            if stdin || tty {
                exitCode = try await InteractiveRelay.run(try await warren.attach(id), stdin: stdin, tty: tty)
            } else {
                let forwarding = InteractiveRelay.forwardSignals { sig in
                    Task { try? await warren.kill(id, signal: sig) }
                }
                defer { forwarding.forEach { $0.cancel() } }
                exitCode = try await Output.relay(try await warren.logs(id, follow: true))
            }
        } catch {
            throw CLIFailure.beforeRun(error)
        }
        if let exitCode { return exitCode }
        // The stream ended without an exit record: ask for the final state.
        if let info = try? await warren.inspect(id) {
            if let code = info.exitCode { return code }
            if let message = info.error { Output.error(message) }
        }
        return 125
    }
}
