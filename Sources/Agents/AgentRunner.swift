import WarrenCore

/// The small shell loop an agent's sandbox runs as its main process, and the scripts
/// that start its turns.
///
/// The loop waits on a FIFO for a turn number, runs that turn's script with the CLI's
/// output on its own stdout — the sandbox's log, which outlives a daemon restart — and
/// frames each turn with marker lines (`ESC-RS warren-turn N start`, `... N end CODE`).
/// The daemon reads the log, so a turn keeps running and nothing of its output is lost
/// while the daemon is down. Only `sh`, `mkdir`, `mkfifo` and `mv` are needed of the image.
/// A user who cannot write their `HOME` (the image's, such as `/root`, for a non-root
/// agent) gets a private one under the runner's directory: the CLIs keep state there.
public enum AgentRunner {
    /// Guest directory of the runner's FIFO and turn scripts.
    public static let directory = "/tmp/.warren-agent"
    public static let markerPrefix = "\u{1E}warren-turn "

    /// The sandbox's command.
    public static var command: [String] { ["/bin/sh", "-c", loop, "warren-agent"] }

    static let loop = """
        d=\(directory)
        umask 077
        mkdir -p "$d" && rm -f "$d/wake" && mkfifo "$d/wake" || exit 70
        if [ ! -w "${HOME:-/nonexistent}" ]; then HOME=$d/home; mkdir -p "$HOME" || exit 70; export HOME; fi
        while :; do
          if read -r n < "$d/wake"; then
            case "$n" in ''|*[!0-9]*) continue ;; esac
            [ -f "$d/turn-$n.sh" ] || continue
            printf '\\036warren-turn %s start\\n' "$n"
            /bin/sh "$d/turn-$n.sh" < /dev/null
            printf '\\036warren-turn %s end %s\\n' "$n" "$?"
          fi
        done
        """

    /// The script of turn `number`: into the workspace, the provider's environment, then the CLI.
    public static func turnScript(_ invocation: AgentInvocation, workdir: String) -> String {
        // The runner keeps its own files private; what the agent writes gets the usual modes.
        var lines = ["umask 022", "cd \(quote(workdir)) || exit 71"]
        for entry in invocation.environment {
            guard let eq = entry.firstIndex(of: "=") else { continue }
            lines.append("export \(entry[..<eq])=\(quote(String(entry[entry.index(after: eq)...])))")
        }
        lines.append("exec " + invocation.arguments.map(quote).joined(separator: " "))
        return lines.joined(separator: "\n") + "\n"
    }

    /// The command that hands the runner turn `number`'s script and wakes it.
    public static func deliver(script: String, turn number: Int) -> [String] {
        let body = """
            d=\(directory); umask 077
            printf '%s' "$1" > "$d/turn-$2.tmp" && mv "$d/turn-$2.tmp" "$d/turn-$2.sh" && echo "$2" > "$d/wake"
            """
        return ["/bin/sh", "-c", body, "warren-agent", script, String(number)]
    }

    /// `s` as one shell word.
    public static func quote(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// A marker line, parsed.
    public enum Marker: Equatable, Sendable {
        case start(turn: Int)
        case end(turn: Int, exitCode: Int32)

        public init?(line: String) {
            guard line.hasPrefix(AgentRunner.markerPrefix) else { return nil }
            let f = line.dropFirst(AgentRunner.markerPrefix.count).split(separator: " ")
            guard f.count >= 2, let n = Int(f[0]) else { return nil }
            switch f[1] {
            case "start": self = .start(turn: n)
            case "end" where f.count == 3: guard let c = Int32(f[2]) else { return nil }; self = .end(turn: n, exitCode: c)
            default: return nil
            }
        }
    }
}
