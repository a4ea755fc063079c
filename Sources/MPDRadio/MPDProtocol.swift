/// MPD's text protocol, without any I/O: quoting a command's arguments and parsing its responses.
///
/// A response is zero or more `key: value` lines ended by `OK`, or ended by one
/// `ACK [error@command_listNum] {current_command} message_text` line; a `binary: N` line is followed by N raw
/// bytes and a newline (album art, `readpicture`), which this parser skips. The greeting is `OK MPD x.y.z`.
/// Reference: https://mpd.readthedocs.io/en/latest/protocol.html
public enum MPDProtocol {
    /// `command` with `arguments` quoted as MPD reads them: each in double quotes, `"` and `\` escaped.
    public static func line(_ command: String, _ arguments: [String] = []) -> String {
        ([command] + arguments.map(quote)).joined(separator: " ") + "\n"
    }

    /// One argument in double quotes with `"` and `\` escaped by a backslash.
    public static func quote(_ argument: String) -> String {
        var quoted = "\""
        for character in argument {
            if character == "\"" || character == "\\" { quoted.append("\\") }
            quoted.append(character)
        }
        return quoted + "\""
    }
}

/// One `ACK` line: MPD refused a command.
public struct MPDAck: Error, Equatable, Sendable, CustomStringConvertible {
    /// MPD's error code (`ACK_ERROR_*`: 2 argument, 3 password, 4 permission, 5 unknown, 50 no such file, …).
    public let code: Int
    /// The position of the failing command within a command list (0 outside lists).
    public let listIndex: Int
    /// The command MPD names in braces (may be empty).
    public let command: String
    /// MPD's own message.
    public let message: String

    public init(code: Int, listIndex: Int, command: String, message: String) {
        self.code = code
        self.listIndex = listIndex
        self.command = command
        self.message = message
    }

    /// Parses `ACK [50@0] {add} No such directory`; `nil` for a line that is not an ACK.
    public init?(line: Substring) {
        guard line.hasPrefix("ACK [") else { return nil }
        var rest = line.dropFirst(5)
        guard let at = rest.firstIndex(of: "@"), let close = rest.firstIndex(of: "]"), at < close,
            let code = Int(rest[..<at]), let index = Int(rest[rest.index(after: at)..<close])
        else { return nil }
        rest = rest[rest.index(after: close)...].drop { $0 == " " }
        var command = ""
        if rest.first == "{", let end = rest.firstIndex(of: "}") {
            command = String(rest[rest.index(after: rest.startIndex)..<end])
            rest = rest[rest.index(after: end)...].drop { $0 == " " }
        }
        self.init(code: code, listIndex: index, command: command, message: String(rest))
    }

    /// One sentence naming the command and MPD's message.
    public var description: String {
        "MPD refused `\(command.isEmpty ? "?" : command)`: \(message) (MPD error \(code))"
    }

    /// `ACK_ERROR_NO_EXIST`: the file, directory or song does not exist.
    public static let noExist = 50
}

/// A complete response: the `key: value` pairs in order (keys as MPD spells them, e.g. `file`, `Pos`).
public struct MPDResponse: Equatable, Sendable {
    public var pairs: [(key: String, value: String)]

    public init(pairs: [(key: String, value: String)] = []) { self.pairs = pairs }

    /// The first value of `key`.
    public subscript(key: String) -> String? { pairs.first { $0.key == key }?.value }

    /// The pairs split into records, each starting at a pair whose key is `key` (e.g. `file` for
    /// `playlistinfo`: one record per song).
    public func records(startingAt key: String) -> [[String: String]] {
        var records: [[String: String]] = []
        for (k, v) in pairs {
            if k == key { records.append([:]) }
            guard !records.isEmpty else { continue }
            if records[records.count - 1][k] == nil { records[records.count - 1][k] = v }
        }
        return records
    }

    public static func == (a: MPDResponse, b: MPDResponse) -> Bool {
        a.pairs.count == b.pairs.count && zip(a.pairs, b.pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

/// A line that is neither `key: value`, `OK` nor `ACK`, or a response too large to be sane.
public struct MPDProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// An incremental response parser: feed it bytes as they arrive, take complete responses out.
///
/// Bytes after a response's `OK`/`ACK` line stay buffered for the next one.
/// - Complexity: O(bytes) over a response: each byte is looked at a bounded number of times.
public struct MPDResponseParser: Sendable {
    private var buffer: [UInt8] = []
    private var position = 0
    private var pairs: [(key: String, value: String)] = []
    /// Raw bytes still to skip of a `binary: N` chunk (plus its trailing newline).
    private var binaryLeft = 0
    /// The largest response accepted (a queue of 100 000 songs is about 30 MB).
    public var maximumBytes = 512 << 20
    private var responseBytes = 0

    public init() {}

    /// Appends bytes read from the connection.
    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete response (`.success`), an `ACK` (`.failure`), or `nil` when more bytes are needed.
    /// Throws `MPDProtocolError` on a malformed line.
    public mutating func next() throws -> Result<MPDResponse, MPDAck>? {
        while true {
            if binaryLeft > 0 {
                let take = min(binaryLeft, buffer.count - position)
                position += take
                binaryLeft -= take
                if binaryLeft > 0 { compact(); return nil }
                continue
            }
            guard let newline = buffer[position...].firstIndex(of: 10) else {
                compact()
                return nil
            }
            let line = Substring(decoding: buffer[position..<newline], as: UTF8.self)
            responseBytes += newline - position + 1
            position = newline + 1
            guard responseBytes <= maximumBytes else {
                throw MPDProtocolError("MPD sent a response larger than \(maximumBytes >> 20) MB")
            }
            if line == "OK" || line.hasPrefix("OK MPD ") {
                defer { pairs = []; responseBytes = 0 }
                return .success(MPDResponse(pairs: pairs))
            }
            if line == "list_OK" { continue }
            if line.hasPrefix("ACK ") {
                pairs = []
                responseBytes = 0
                guard let ack = MPDAck(line: line) else {
                    throw MPDProtocolError("MPD sent a malformed error line: \(line)")
                }
                return .failure(ack)
            }
            guard let colon = line.range(of: ": ") else {
                throw MPDProtocolError("MPD sent a line that is not `key: value`: \(line.prefix(200))")
            }
            let key = String(line[..<colon.lowerBound]), value = String(line[colon.upperBound...])
            if key == "binary" {
                guard let count = Int(value), count >= 0 else {
                    throw MPDProtocolError("MPD sent a bad binary length: \(value)")
                }
                binaryLeft = count + 1  // the chunk and its newline
                continue
            }
            pairs.append((key, value))
        }
    }

    private mutating func compact() {
        if position > 65_536 || position == buffer.count {
            buffer.removeFirst(position)
            position = 0
        }
    }
}
