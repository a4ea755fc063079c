public import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// Waiting in tests for something another process does, without failing because this task was not scheduled.
///
/// Under a full parallel test run on two cores, synchronous tests (and synchronous waits for child processes)
/// hold the cooperative threads, and an async test's 0.1-s sleep can end minutes late. A loop that checks the
/// deadline after sleeping and then gives up would fail although the awaited thing happened long ago, so every
/// wait here looks one last time after its deadline.
public enum Polling {
    /// Evaluates `condition` every `interval` seconds until it holds (true) or `seconds` have passed and a last
    /// look after the deadline still finds it false (false).
    public static func until(
        seconds: Double, interval: Double = 0.1, _ condition: () async throws -> Bool
    ) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let lastLook = Date() >= deadline
            if try await condition() { return true }
            if lastLook { return false }
            try? await Task.sleep(for: .seconds(interval))
        }
    }

    /// Waits for `retrieve serve` (started as `child`) to print `listening on http://HOST:PORT` and returns the
    /// URL; throws when the child exits first or does not listen within `seconds` (it is then killed).
    public static func serveBase(_ child: Child, seconds: Double = 120) async throws -> String {
        var base: String?
        var exited = false
        _ = await until(seconds: seconds, interval: 0.05) {
            if let line = child.standardOutput.split(separator: "\n").first(where: { $0.contains("listening on ") }),
                let http = line.range(of: "http://")
            {
                base = String(line[http.lowerBound...]).trimmingCharacters(in: .whitespaces)
                return true
            }
            exited = child.hasExited
            return exited
        }
        if let base { return base }
        if exited {
            throw ChildProcessError("retrieve serve exited (\(child.wait())) before listening: \(child.standardError)")
        }
        child.send(SIGKILL)
        child.wait()
        throw ChildProcessError(
            "retrieve serve did not start listening within \(Int(seconds)) s: \(child.standardError)")
    }
}
