public import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// A child process could not be started, or the built `retrieve` is missing.
public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// This process's own executable file, as `/proc/self/exe` names it; nil where it cannot be read (no /proc).
public enum OwnExecutable {
    public static var url: URL? {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")).map(URL.init(fileURLWithPath:))
    }
}

/// How a child process ended.
public struct ChildExit: CustomStringConvertible {
    /// Exit status, when it exited.
    public var status: Int32?
    /// Signal number, when a signal ended it.
    public var signal: Int32?
    /// Peak resident set size in KiB (`ru_maxrss` from `wait4`).
    public var maxRSSKiB: Int
    public var description: String {
        status.map { "exit \($0)" } ?? "signal \(signal ?? -1)"
    }

    /// A signal's usual name (`SIGSEGV`), for messages; "signal N" for the others.
    public static func name(ofSignal signal: Int32) -> String {
        switch signal {
        case SIGSEGV: "SIGSEGV"
        case SIGBUS: "SIGBUS"
        case SIGFPE: "SIGFPE"
        case SIGILL: "SIGILL"
        case SIGTRAP: "SIGTRAP"
        case SIGABRT: "SIGABRT"
        case SIGKILL: "SIGKILL"
        case SIGTERM: "SIGTERM"
        default: "signal \(signal)"
        }
    }
}

/// A child process started with `posix_spawn`, its output sent to files (no pipes to fill up), reaped by `wait4`
/// so that its peak memory is known exactly. The tests run `retrieve` this way; `retrieve serve` analyses each
/// upload in one, so that a file that crashes a decoder ends that child, not the server.
///
/// The child gets an empty signal mask and default SIGINT/SIGTERM dispositions: dispatch worker threads block
/// signals, and a spawned process would otherwise inherit that mask and never see Ctrl-C.
public final class Child: @unchecked Sendable {
    public let pid: pid_t
    public let stdoutURL: URL
    public let stderrURL: URL
    private var exit: ChildExit?

    public init(_ executable: URL, _ arguments: [String], output: URL, environment: [String: String] = [:]) throws {
        stdoutURL = output.appendingPathExtension("out")
        stderrURL = output.appendingPathExtension("err")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = "1"  // a child shares the cores with its parent: no BLAS thread pool of its own
        for (k, v) in environment { env[k] = v }
        let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable.path, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            throw ChildProcessError("posix_spawn \(executable.path) failed: \(String(cString: strerror(rc)))")
        }
        self.pid = pid
    }

    public func send(_ signal: Int32) { kill(pid, signal) }

    /// SIGTERM, then waits up to `grace` seconds for the exit, then SIGKILL: no test leaves a child behind.
    @discardableResult
    public func stop(grace: TimeInterval = 10) -> ChildExit {
        if !hasExited { send(SIGTERM) }
        let deadline = Date().addingTimeInterval(grace)
        while !hasExited && Date() < deadline { usleep(20_000) }
        if !hasExited { send(SIGKILL) }
        return wait()
    }

    /// Waits up to `timeout` seconds for the child to end; nil if it is still running then (it is left running).
    public func wait(timeout: TimeInterval) -> ChildExit? {
        let deadline = Date().addingTimeInterval(timeout)
        while !hasExited {
            guard Date() < deadline else { return nil }
            usleep(5_000)
        }
        return wait()
    }

    /// Waits for the child to end (once; later calls return the same result).
    @discardableResult
    public func wait() -> ChildExit {
        if let exit { return exit }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let result = ChildExit(waitStatus: status, usage: usage)
        exit = result
        return result
    }

    /// Whether the child has ended, without blocking (reaps it if so).
    public var hasExited: Bool {
        if exit != nil { return true }
        var status: Int32 = 0
        var usage = rusage()
        let r = wait4(pid, &status, WNOHANG, &usage)
        guard r == pid else { return false }
        exit = ChildExit(waitStatus: status, usage: usage)
        return true
    }

    public var standardOutput: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    public var standardError: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }
}

extension ChildExit {
    /// The exit `wait4` reported: a status for a normal exit, the signal otherwise.
    init(waitStatus status: Int32, usage: rusage) {
        self =
            (status & 0x7f) == 0
            ? ChildExit(status: (status >> 8) & 0xff, signal: nil, maxRSSKiB: usage.ru_maxrss)
            : ChildExit(status: nil, signal: status & 0x7f, maxRSSKiB: usage.ru_maxrss)
    }
}
