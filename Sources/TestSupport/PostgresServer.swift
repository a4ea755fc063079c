public import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// A throwaway PostgreSQL server for tests: `initdb` into a temporary folder, `postgres` in the foreground as a
/// `Child` on a free loopback port, removed again by `stop()`. No system service is used or started.
///
/// The binaries are looked up on `PATH`, then in `/usr/lib/postgresql/15/bin` (Debian's `postgresql-15`). PostgreSQL
/// refuses to run as root, so as root both run as `nobody` through `setpriv`, in a folder handed to that user.
/// Local (Unix socket) logins are trusted; TCP logins need `password` (SCRAM), so a test can also try a wrong one.
/// The server runs with `fsync=off`: a test database need not survive a power cut.
public final class PostgresServer: @unchecked Sendable {
    /// Why the tests that need a server are skipped where the binaries are missing (one sentence, the remedy).
    public static let skipReason =
        "PostgreSQL 15 (initdb, postgres) is not on PATH nor in /usr/lib/postgresql/15/bin — apt-get install postgresql-15 to run these tests"

    /// The folder holding `initdb` and `postgres`, or `nil` where PostgreSQL is not installed.
    public static let binaries: URL? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let folders = path.split(separator: ":").map(String.init) + ["/usr/lib/postgresql/15/bin"]
        return folders.map { URL(fileURLWithPath: $0) }.first { folder in
            ["initdb", "postgres"].allSatisfy {
                FileManager.default.isExecutableFile(atPath: folder.appendingPathComponent($0).path)
            }
        }
    }()

    public static var isAvailable: Bool { binaries != nil }

    /// Whether the tests that need a server run: where the binaries are, and always where
    /// `RETRIEVE_REQUIRE_POSTGRES=1` (CI, which installs them: there a missing binary fails instead of skipping).
    public static var testsEnabled: Bool {
        isAvailable || ProcessInfo.processInfo.environment["RETRIEVE_REQUIRE_POSTGRES"] == "1"
    }

    /// The superuser every test logs in as.
    public let user = "retrieve"
    /// Its password (TCP logins are checked against it).
    public let password: String
    public let port: Int
    /// The temporary folder holding the cluster, its socket and its log.
    public let folder: URL
    private let child: Child
    private let lock = NSLock()
    private var databases = 0

    /// Starts a new cluster; takes a few seconds (most of it `initdb`).
    public init() throws {
        guard let binaries = Self.binaries else { throw ChildProcessError(Self.skipReason) }
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("retrieve-pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        password = "pw-\(UUID().uuidString.prefix(8))"
        let data = folder.appendingPathComponent("data")
        let passwordFile = folder.appendingPathComponent("password")
        try Data(password.utf8).write(to: passwordFile)
        let asRoot = getuid() == 0
        if asRoot {
            // `nobody` must own the folder: initdb creates the cluster in it and postgres its socket.
            for path in [folder.path, passwordFile.path] where chown(path, 65534, 65534) != 0 {
                throw ChildProcessError(
                    "cannot hand \(path) to nobody for PostgreSQL: \(String(cString: strerror(errno)))")
            }
        }
        func command(_ name: String, _ arguments: [String]) -> (URL, [String]) {
            let tool = binaries.appendingPathComponent(name)
            guard asRoot else { return (tool, arguments) }
            return (
                URL(fileURLWithPath: "/usr/bin/setpriv"),
                ["--reuid=65534", "--regid=65534", "--clear-groups", "--", tool.path] + arguments
            )
        }
        let (initdb, initArguments) = command(
            "initdb",
            [
                "-D", data.path, "-U", user, "--pwfile=\(passwordFile.path)", "--auth-local=trust",
                "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync",
            ])
        let setup = try Child(initdb, initArguments, output: folder.appendingPathComponent("initdb"))
        let initExit = setup.wait()
        guard initExit.status == 0 else {
            throw ChildProcessError("initdb failed (\(initExit)): \(setup.standardError.suffix(600))")
        }
        // A port found free can be taken before postgres binds it: try a few.
        var attempt = 0
        while true {
            attempt += 1
            let port = try LoopbackPort.free()
            let (postgres, arguments) = command(
                "postgres",
                [
                    "-D", data.path, "-p", "\(port)", "-k", folder.path, "-c", "listen_addresses=127.0.0.1",
                    "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
                ])
            let child = try Child(postgres, arguments, output: folder.appendingPathComponent("postgres-\(attempt)"))
            let deadline = Date().addingTimeInterval(60)
            while !child.hasExited && Date() < deadline
                && !child.standardError.contains("ready to accept connections")
            {
                usleep(50_000)
            }
            if child.standardError.contains("ready to accept connections") && !child.hasExited {
                self.port = port
                self.child = child
                return
            }
            let log = child.standardError
            child.stop(grace: 5)
            if attempt < 4 && log.contains("could not bind") { continue }
            try? FileManager.default.removeItem(at: folder)
            throw ChildProcessError("postgres did not start on port \(port): \(log.suffix(800))")
        }
    }

    /// A `postgresql://` URL of database `database` on this server, with this server's password or `password`.
    public func url(database: String = "postgres", password: String? = nil) -> String {
        "postgresql://\(user):\(password ?? self.password)@127.0.0.1:\(port)/\(database)"
    }

    /// Creates a new empty database (named `prefix_N`) and returns its URL; each test takes its own.
    public func createDatabase(prefix: String = "test") throws -> String {
        let name = lock.withLock {
            databases += 1
            return "\(prefix)_\(databases)"
        }
        try psql(database: "postgres", "CREATE DATABASE \(name)")
        return url(database: name)
    }

    /// Runs `sql` through `psql` over the Unix socket (trusted) and returns what it printed (rows unaligned, one a
    /// line, columns split by `|`, no headers); throws with psql's output when it fails.
    @discardableResult
    public func psql(database: String, _ sql: String) throws -> String {
        guard let binaries = Self.binaries else { throw ChildProcessError(Self.skipReason) }
        // Beside postgres, else Debian's (where postgres is linked into /usr/local/bin, say), else on PATH.
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let folders = [binaries.path, "/usr/lib/postgresql/15/bin"] + path.split(separator: ":").map(String.init)
        guard
            let tool = folders.map({ URL(fileURLWithPath: $0).appendingPathComponent("psql") })
                .first(where: { FileManager.default.isExecutableFile(atPath: $0.path) })
        else {
            throw ChildProcessError("psql is neither beside postgres in \(binaries.path) nor on PATH")
        }
        let run = try Child(
            tool,
            [
                "-h", folder.path, "-p", "\(port)", "-U", user, "-d", database, "-v", "ON_ERROR_STOP=1", "-q", "-X",
                "-A", "-t",
                "-c", sql,
            ], output: folder.appendingPathComponent("psql-\(UUID().uuidString.prefix(8))"))
        let exit = run.wait()
        guard exit.status == 0 else { throw ChildProcessError("psql failed (\(exit)): \(run.standardError)") }
        return run.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Stops the server (fast shutdown: SIGINT, then SIGKILL after 10 s) and removes its folder.
    public func stop() {
        if !child.hasExited { child.send(SIGINT) }
        child.stop(grace: 10)
        try? FileManager.default.removeItem(at: folder)
    }
}

/// Loopback ports for test servers.
public enum LoopbackPort {
    /// A port nothing listens on right now (bound to port 0 on 127.0.0.1 and released).
    public static func free() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw ChildProcessError("cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
