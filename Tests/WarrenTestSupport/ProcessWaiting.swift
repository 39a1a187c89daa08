import Foundation

extension Process {
    /// Waits until the process has exited. Foundation's `waitUntilExit` spins a CPU on
    /// Linux while it waits (an empty run loop returns at once), which on a 2-core machine
    /// starves every other test; this polls instead.
    public func waitForExit() {
        while isRunning { usleep(5_000) }
    }
}
