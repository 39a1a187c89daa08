#if canImport(Glibc)
import Glibc
#endif
import NativeSandbox

exit(HelperCommand.main(CommandLine.arguments))
