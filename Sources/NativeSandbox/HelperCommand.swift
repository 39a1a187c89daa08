#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Argument handling of the `warren-sandbox` executable.
///
///     warren-sandbox start --bundle DIR [--ready-fd N]
///     warren-sandbox exec --bundle DIR --process JSON [--console-fd N]
public enum HelperCommand {
    public static func main(_ args: [String]) -> Int32 {
        func value(_ flag: String) -> String? {
            guard let i = args.firstIndex(of: flag), i + 1 < args.count else { return nil }
            return args[i + 1]
        }
        guard args.count >= 2, let bundle = value("--bundle") else { return usage() }
        do {
            switch args[1] {
            case "start":
                let ready = value("--ready-fd").flatMap { Int32($0) } ?? -1
                return try Monitor(bundlePath: bundle, readyFD: ready).run()
            case "exec":
                guard let process = value("--process") else { return usage() }
                let console = value("--console-fd").flatMap { Int32($0) } ?? -1
                return try ExecJoin(bundlePath: bundle, execJSON: process, consoleFD: console).run()
            default:
                return usage()
            }
        } catch {
            FileHandle.standardError.write(Data("warren-sandbox: \(error)\n".utf8))
            return 125
        }
    }

    static func usage() -> Int32 {
        FileHandle.standardError.write(Data("usage: warren-sandbox start --bundle DIR [--ready-fd N] | exec --bundle DIR --process JSON [--console-fd N]\n".utf8))
        return 2
    }
}
