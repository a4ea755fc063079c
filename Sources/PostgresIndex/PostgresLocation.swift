import Foundation

/// Where a PostgreSQL index lives: a `postgresql://user[:password]@host[:port]/database[?sslmode=…]` URL, parsed.
///
/// `postgres://` is accepted too. User, password and database may be percent-encoded (a password holding `@` or
/// `/`). The password never appears in `description` (it shows `***`), so errors and logs can name the URL.
/// `sslmode` takes `disable`, `prefer` (the default, as libpq's: TLS when the server offers it) or `require`.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    /// How the connection uses TLS.
    public enum TLSMode: String, Sendable, Equatable { case disable, prefer, require }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    /// Whether `text` names a PostgreSQL database rather than an SQLite file.
    public static func isURL(_ text: String) -> Bool {
        text.hasPrefix("postgresql://") || text.hasPrefix("postgres://")
    }

    /// Parses `text`; throws `PostgresIndexError.invalidURL` saying what is wrong and how the URL should look.
    public init(_ text: String) throws {
        func invalid(_ reason: String) -> PostgresIndexError {
            .invalidURL(url: Self.redact(text), reason: reason)
        }
        guard Self.isURL(text) else { throw invalid("it does not start with postgresql://") }
        guard let components = URLComponents(string: text) else { throw invalid("it is not a valid URL") }
        guard let host = components.host, !host.isEmpty else { throw invalid("it names no host") }
        guard let user = components.user, !user.isEmpty else { throw invalid("it names no user") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw invalid("it names no database (…/DBNAME)") }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        port = components.port ?? 5432
        guard (1...65_535).contains(port) else { throw invalid("port \(port) is out of range") }
        self.user = user.removingPercentEncoding ?? user
        password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database.removingPercentEncoding ?? database
        tls = .prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw invalid("sslmode must be disable, prefer or require, not \(item.value ?? "empty")")
                }
                tls = mode
            case "password":
                password = item.value
            default:
                throw invalid("parameter \(item.name) is not supported (only sslmode)")
            }
        }
    }

    /// The URL with its password shown as `***`.
    public var description: String {
        var text = "postgresql://\(user)"
        if password != nil { text += ":***" }
        let shownHost = host.contains(":") ? "[\(host)]" : host
        text += "@\(shownHost):\(port)/\(database)"
        if tls != .prefer { text += "?sslmode=\(tls.rawValue)" }
        return text
    }

    /// `text` with the password between `user:` and `@` replaced by `***` (for URLs that do not parse).
    public static func redact(_ text: String) -> String {
        guard let scheme = text.range(of: "://") else { return text }
        let rest = text[scheme.upperBound...]
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@"),
            let colon = rest[..<at].firstIndex(of: ":")
        else { return text }
        return String(text[..<rest.index(after: colon)]) + "***" + String(text[at...])
    }
}
