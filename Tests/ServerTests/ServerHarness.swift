import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif
import PipelineTestSupport
import TestSupport

/// A real `retrieve serve` child process on a free loopback port, over a `PipelineFixture` collection indexed by
/// the real `retrieve index`.
final class ServerProcess: @unchecked Sendable {
    let fixture: PipelineFixture
    let child: Child
    let base: String
    let token: String?

    /// Starts the server over `fixture`'s index on port 0, with `model` (default the fixture's) and `environment`
    /// added to its own; returns once it listens.
    static func start(
        _ fixture: PipelineFixture, token: String? = nil, extra: [String] = [], model: URL? = nil,
        environment: [String: String] = [:]
    ) async throws -> ServerProcess {
        let arguments =
            ["serve", "--db", fixture.databasePath, "--model", (model ?? fixture.modelURL).path, "--port", "0"]
            + (token.map { ["--token", $0] } ?? []) + extra
        let child = try Child(
            try RetrieveBinary.require(), arguments, output: fixture.folder.path("serve-\(UUID().uuidString)"),
            environment: ["RETRIEVE_LOG_LEVEL": "info"].merging(environment) { $1 })
        let base = try await Polling.serveBase(child)
        return ServerProcess(fixture: fixture, child: child, base: base, token: token)
    }

    private init(fixture: PipelineFixture, child: Child, base: String, token: String?) {
        self.fixture = fixture
        self.child = child
        self.base = base
        self.token = token
    }

    /// SIGTERM, then waits for the exit (SIGKILL after 60 s, so that no test leaves a server behind).
    @discardableResult
    func stop() -> ChildExit {
        child.stop(grace: 60)
    }

    var port: UInt16 { UInt16(base.split(separator: ":").last!)! }

    /// One HTTP request; the token is sent unless `authorization` overrides it ("" sends none).
    func request(
        _ method: String, _ path: String, body: Data? = nil, contentType: String? = nil, authorization: String? = nil
    ) async throws -> HTTPResult {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 120
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        if let value = authorization ?? token.map({ "Bearer \($0)" }), !value.isEmpty {
            request.setValue(value, forHTTPHeaderField: "Authorization")
        }
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        return try await withCheckedThrowingContinuation { continuation in
            session.dataTask(with: request) { data, response, error in
                if let error { return continuation.resume(throwing: error) }
                let http = response as! HTTPURLResponse
                continuation.resume(
                    returning: HTTPResult(
                        status: http.statusCode, body: data ?? Data(),
                        contentType: http.value(forHTTPHeaderField: "Content-Type")))
            }.resume()
        }
    }

    func get(_ path: String, authorization: String? = nil) async throws -> HTTPResult {
        try await request("GET", path, authorization: authorization)
    }
}

struct HTTPResult: Sendable {
    var status: Int
    var body: Data
    var contentType: String?

    /// The body as a JSON object (empty when it is not one).
    var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
    var text: String { String(decoding: body, as: UTF8.self) }
    /// `error.field` of an API error body.
    var errorField: String? { (json["error"] as? [String: Any])?["field"] as? String }
    var errorMessage: String { ((json["error"] as? [String: Any])?["message"] as? String) ?? "" }
    /// The `subsonic-response` envelope.
    var subsonic: [String: Any] { json["subsonic-response"] as? [String: Any] ?? [:] }
}

/// Runs `retrieve ARGS…` to completion.
func runRetrieve(_ arguments: [String], in folder: URL) throws -> (exit: ChildExit, stdout: String, stderr: String) {
    let child = try Child(
        try RetrieveBinary.require(), arguments, output: folder.appendingPathComponent("run-\(UUID().uuidString)"))
    let exit = child.wait()
    return (exit, child.standardOutput, child.standardError)
}

/// Indexes the fixture's music folder with the real `retrieve index`.
func index(_ fixture: PipelineFixture) throws {
    let run = try runRetrieve(
        ["index", fixture.music.path, "--db", fixture.databasePath, "--model", fixture.modelURL.path],
        in: fixture.folder.url)
    guard run.exit.status == 0 else { throw ChildProcessError("retrieve index failed (\(run.exit)): \(run.stderr)") }
}

/// A raw HTTP/1.1 exchange over a socket, for what URLSession cannot do: send half a request, wait, send the rest.
final class RawConnection {
    let fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            throw ChildProcessError("connect to 127.0.0.1:\(port) failed: \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    func send(_ data: Data) {
        data.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                sent += n
            }
        }
    }

    /// What arrives within `timeout` seconds of waiting for the first bytes (one read); "" if nothing does.
    func receive(timeout: TimeInterval) -> String {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout * 1000)) == 1 else { return "" }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
    }

    /// Everything until the server closes the connection (the request sends `Connection: close`).
    func receiveAll() -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A TCP socket bound to a loopback port (one the system chose, or a given one), listening or not; the caller
/// closes `fd`.
struct LoopbackSocket {
    let fd: Int32
    let port: UInt16

    /// `port` 0 lets the system choose.
    init(listening: Bool, port: UInt16 = 0) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var reuse: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = fd
        let ready = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && (!listening || listen(fd, 16) == 0) && getsockname(fd, $0, &length) == 0
            }
        }
        guard ready else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ChildProcessError("no loopback socket: \(reason)")
        }
        self.port = UInt16(bigEndian: address.sin_port)
    }
}
