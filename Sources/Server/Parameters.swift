import Foundation
import Hummingbird

/// Typed reading of query parameters; every failure is an `APIError` naming the parameter.
struct QueryParameters {
    let values: [(key: String, value: String)]

    init(_ request: Request) {
        values = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
    }

    /// The parameter's last value; `nil` when absent.
    func string(_ name: String) -> String? { values.last { $0.key == name }?.value }

    /// Every value of a repeatable parameter, each also split at commas (`seed=1,2&seed=3`), blanks dropped.
    func list(_ name: String, splitCommas: Bool = true) -> [String] {
        values.filter { $0.key == name }.flatMap { item in
            splitCommas ? item.value.split(separator: ",").map(String.init) : [item.value]
        }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func int(_ name: String, default value: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let text = string(name) else { return value }
        return try Self.int(text, field: name, in: range)
    }

    static func int(_ text: String, field: String, in range: ClosedRange<Int>) throws -> Int {
        guard let number = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw APIError.invalid(field, "\(field) must be a whole number, got \"\(text)\"")
        }
        guard range.contains(number) else {
            throw APIError.invalid(
                field, "\(field) must be between \(range.lowerBound) and \(range.upperBound), got \(number)")
        }
        return number
    }

    /// `true`, `1`, `yes` or a bare `name` (no value) is true; `false`, `0`, `no` false; absent gives `value`.
    func bool(_ name: String, default value: Bool = false) throws -> Bool {
        guard let text = string(name) else { return value }
        return try Self.bool(text, field: name)
    }

    static func bool(_ text: String, field: String) throws -> Bool {
        switch text.lowercased() {
        case "", "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw APIError.invalid(field, "\(field) must be true or false, got \"\(text)\"")
        }
    }

    func float(_ name: String, default value: Float, in range: ClosedRange<Float>) throws -> Float {
        guard let text = string(name) else { return value }
        guard let number = Float(text), number.isFinite else {
            throw APIError.invalid(name, "\(name) must be a number, got \"\(text)\"")
        }
        guard range.contains(number) else {
            throw APIError.invalid(
                name, "\(name) must be between \(range.lowerBound) and \(range.upperBound), got \(text)")
        }
        return number
    }
}

/// Reads a request body within a size and a time limit.
enum BodyReader {
    /// The body's bytes; 413 (field `body`) past `limit` bytes, 408 when it has not arrived within `timeout`.
    static func collect(_ request: Request, limit: Int, timeout: Duration) async throws -> Data {
        let body = request.body
        let buffer = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask { try await body.collect(upTo: limit) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let buffer = first else {
                throw APIError(.requestTimeout, field: "body", "the request body did not arrive within \(timeout)")
            }
            return buffer
        }
        return Data(buffer.readableBytesView)
    }
}

/// The file part of a `multipart/form-data` body (RFC 7578): the first part with a `filename`, else the first
/// part named `file` or `audio`.
enum Multipart {
    struct FilePart {
        var filename: String?
        var data: Data
    }

    /// The boundary of a `multipart/form-data` content type, or `nil` for any other type.
    static func boundary(contentType: String) -> String? {
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.first?.lowercased() == "multipart/form-data" else { return nil }
        for parameter in parts.dropFirst() where parameter.lowercased().hasPrefix("boundary=") {
            var value = String(parameter.dropFirst("boundary=".count))
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                value = String(value.dropFirst().dropLast())
            }
            return value.isEmpty ? nil : value
        }
        return nil
    }

    /// - Throws: `APIError` (field `body`) when the body is not well-formed or holds no file part.
    static func filePart(_ body: Data, boundary: String) throws -> FilePart {
        let delimiter = Data("--\(boundary)".utf8)
        let separator = Data("\r\n\r\n".utf8)
        var parts: [(headers: String, data: Data)] = []
        guard var cursor = body.range(of: delimiter)?.upperBound else {
            throw APIError.invalid("body", "the multipart body has no part delimited by its boundary")
        }
        while true {
            // After a delimiter: "--" ends the body, otherwise CRLF then the part's headers.
            if body[cursor...].starts(with: Data("--".utf8)) { break }
            guard let headerEnd = body.range(of: separator, in: cursor..<body.endIndex) else { break }
            let headers = String(decoding: body[cursor..<headerEnd.lowerBound], as: UTF8.self)
            guard let next = body.range(of: Data("\r\n".utf8) + delimiter, in: headerEnd.upperBound..<body.endIndex)
            else {
                throw APIError.invalid("body", "a multipart part is not closed by the boundary")
            }
            parts.append((headers, body[headerEnd.upperBound..<next.lowerBound]))
            cursor = next.upperBound
        }
        func parameter(_ name: String, in headers: String) -> String? {
            for line in headers.split(whereSeparator: \.isNewline)
            where line.lowercased().hasPrefix("content-disposition:") {
                for item in line.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) })
                where item.lowercased().hasPrefix(name + "=") {
                    var value = String(item.dropFirst(name.count + 1))
                    if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                        value = String(value.dropFirst().dropLast())
                    }
                    return value
                }
            }
            return nil
        }
        let chosen =
            parts.first { parameter("filename", in: $0.headers) != nil }
            ?? parts.first { ["file", "audio"].contains(parameter("name", in: $0.headers) ?? "") }
        guard let chosen else {
            throw APIError.invalid(
                "body", "the multipart body has no file part (send the audio as a part with a filename)")
        }
        return FilePart(filename: parameter("filename", in: chosen.headers), data: Data(chosen.data))
    }
}
