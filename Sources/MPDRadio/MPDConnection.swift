import Foundation
import RetrieveCore
#if canImport(Glibc)
    import Glibc
#endif

/// Where MPD listens: a TCP host and port, or a local (Unix) socket path, which is what `MPD_HOST=/run/mpd/socket`
/// means.
public enum MPDAddress: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case local(path: String)

    /// Whether MPD answers `config` here (it does only over a local socket).
    public var isLocal: Bool { if case .local = self { true } else { false } }

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .local(let path): path
        }
    }

    /// The address and password from options and MPD's own environment convention: `--host` else `$MPD_HOST`
    /// else 127.0.0.1, `--port` else `$MPD_PORT` else 6600; a host of the form `password@host` carries the
    /// password (`--password` wins); a host starting with `/` is a local socket.
    public static func resolve(
        host: String?, port: Int?, password: String?, environment: [String: String]
    ) -> (address: MPDAddress, password: String?) {
        var host = host ?? environment["MPD_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        var password = password
        if !host.hasPrefix("/"), let at = host.lastIndex(of: "@"), at != host.startIndex {
            if password == nil { password = String(host[..<at]) }
            host = String(host[host.index(after: at)...])
        }
        if host.hasPrefix("/") { return (.local(path: host), password) }
        let port =
            port ?? environment["MPD_PORT"].flatMap(Int.init).flatMap { (1...65_535).contains($0) ? $0 : nil } ?? 6600
        return (.tcp(host: host, port: port), password)
    }
}

/// The connection failed or dropped: MPD is not running, not reachable, or went away.
public struct MPDConnectionError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A blocking connection to MPD over its text protocol: one command at a time, each answered in full.
///
/// Commands and ordinary reads time out after `timeout` seconds (a hung MPD is a dropped connection);
/// `idle` waits as long as it must, polling `stop` so that a signal ends it within a fraction of a second.
public final class MPDConnection {
    public let address: MPDAddress
    private var descriptor: Int32 = -1
    private var parser = MPDResponseParser()
    private let timeout: Double

    /// Connects, reads the greeting and, when `password` is given, logs in.
    public init(_ address: MPDAddress, password: String?, timeout: Double = 30) throws {
        self.address = address
        self.timeout = timeout
        descriptor = try Self.open(address, timeout: timeout)
        do {
            _ = try read(deadline: Date().addingTimeInterval(timeout), stop: nil)?.get()
            if let password { try command("password", [password]) }
        } catch {
            close(descriptor)
            descriptor = -1
            throw error
        }
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// Sends one command and returns its response; an `ACK` is thrown as `MPDAck`.
    @discardableResult
    public func command(_ name: String, _ arguments: [String] = []) throws -> MPDResponse {
        try send(MPDProtocol.line(name, arguments))
        guard let result = try read(deadline: Date().addingTimeInterval(timeout), stop: nil) else {
            throw MPDConnectionError("MPD at \(address) did not answer `\(name)` within \(Int(timeout)) s")
        }
        return try result.get()
    }

    /// `idle` on `subsystems`: waits until one of them changes and returns the names MPD reports as changed, or
    /// returns `[]` once `stop` is raised (after `noidle`, leaving the connection usable).
    public func idle(_ subsystems: [String], stop: StopRequest) throws -> [String] {
        try send(MPDProtocol.line("idle", subsystems))
        if let result = try read(deadline: nil, stop: stop) {
            return try result.get().pairs.filter { $0.key == "changed" }.map(\.value)
        }
        try send("noidle\n")
        _ = try read(deadline: Date().addingTimeInterval(timeout), stop: nil)
        return []
    }

    private func send(_ text: String) throws {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes {
                Glibc.send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw MPDConnectionError(
                    "lost the connection to MPD at \(address): \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    /// The next response; `nil` when the deadline passed or `stop` was raised first.
    private func read(deadline: Date?, stop: StopRequest?) throws -> Result<MPDResponse, MPDAck>? {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            if let response = try parser.next() { return response }
            if stop?.isRaised == true { return nil }
            var wait: Int32 = 250
            if let deadline {
                let left = deadline.timeIntervalSinceNow
                if left <= 0 { return nil }
                wait = Int32(min(250, left * 1000 + 1))
            }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, wait)
            if ready < 0 && errno != EINTR {
                throw MPDConnectionError(
                    "lost the connection to MPD at \(address): \(String(cString: strerror(errno)))")
            }
            guard ready > 0 else { continue }
            let n = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard n > 0 else {
                let reason = n == 0 ? "MPD closed it" : String(cString: strerror(errno))
                throw MPDConnectionError("lost the connection to MPD at \(address): \(reason)")
            }
            parser.feed(chunk[0..<n])
        }
    }

    /// `connect` that gives up after `seconds` (a blocking connect to a host that drops packets waits minutes,
    /// and the follow loop must stay responsive to SIGTERM); `nil` on success, else the reason. The socket is
    /// left blocking.
    private static func connectWithin(
        _ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t, seconds: Double
    ) -> String? {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        if connect(fd, address, length) == 0 { return nil }
        guard errno == EINPROGRESS else { return String(cString: strerror(errno)) }
        var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&poller, 1, Int32(seconds * 1000)) == 1 else { return "no answer within \(Int(seconds)) s" }
        var error: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0, error == 0 else {
            return String(cString: strerror(error))
        }
        return nil
    }

    private static func open(_ address: MPDAddress, timeout: Double) throws -> Int32 {
        switch address {
        case .local(let path):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else {
                throw MPDConnectionError("cannot create a socket: \(String(cString: strerror(errno)))")
            }
            var socketAddress = sockaddr_un()
            socketAddress.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: socketAddress.sun_path) else {
                close(fd)
                throw MPDConnectionError("the socket path \(path) is too long")
            }
            withUnsafeMutableBytes(of: &socketAddress.sun_path) { raw in
                for (i, b) in bytes.enumerated() { raw[i] = b }
            }
            let result = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard result == 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw MPDConnectionError(
                    "cannot connect to MPD at \(path): \(reason); is mpd running, and may you open its socket?")
            }
            return fd
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_family = AF_UNSPEC
            var list: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, String(port), &hints, &list)
            guard status == 0, let first = list else {
                throw MPDConnectionError(
                    "cannot resolve the MPD host \(host): \(String(cString: gai_strerror(status)))")
            }
            defer { freeaddrinfo(list) }
            var reason = "no address"
            var entry: UnsafeMutablePointer<addrinfo>? = first
            while let info = entry {
                entry = info.pointee.ai_next
                let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
                guard fd >= 0 else { continue }
                if let failure = connectWithin(
                    fd, info.pointee.ai_addr, info.pointee.ai_addrlen, seconds: min(timeout, 10))
                {
                    reason = failure
                    close(fd)
                    continue
                }
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                return fd
            }
            throw MPDConnectionError(
                "cannot connect to MPD at \(MPDAddress.tcp(host: host, port: port)): \(reason); is mpd running there "
                    + "(check --host, --port, $MPD_HOST)?")
        }
    }
}
