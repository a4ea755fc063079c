import Foundation
public import Hummingbird
import Library
import VectorIndex

/// A request the server refuses or cannot answer: an HTTP status, the request field at fault (if one is), and a
/// sentence saying what went wrong and how to put it right.
///
/// Rendered as `{"error": {"field": …, "message": …}}` (`field` is `null` when no single field is at fault) by
/// `ErrorMiddleware`, the one place where errors become responses.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let field: String?
    public let message: String

    public init(_ status: HTTPResponse.Status, field: String? = nil, _ message: String) {
        self.status = status
        self.field = field
        self.message = message
    }

    public var description: String { "\(status.code) \(field.map { "\($0): " } ?? "")\(message)" }

    /// 400: a parameter or body field that is malformed or out of range.
    static func invalid(_ field: String, _ message: String) -> APIError { APIError(.badRequest, field: field, message) }
    /// 400: a required parameter is missing.
    static func missing(_ field: String, _ what: String) -> APIError {
        APIError(.badRequest, field: field, "\(field) is required: \(what)")
    }
    /// 404: a track the request names is not in the index.
    static func unknownTrack(_ field: String, _ value: String) -> APIError {
        APIError(.notFound, field: field, "no track \(value) in the index; find ids with GET /api/tracks?q=…")
    }
}

/// An error on an OpenSubsonic route, answered with the `subsonic-response` envelope (`status: failed`).
struct SubsonicError: Error, Sendable {
    /// The Subsonic error code: 0 generic, 10 missing parameter, 44 invalid API key, 70 not found.
    let code: Int
    let message: String
    /// HTTP status: 200 as Subsonic clients expect, except 401 for a missing or wrong token.
    var status: HTTPResponse.Status = .ok
}

/// Turns every error thrown below it into a JSON response, so that no handler formats an error itself and no
/// error escapes as an empty 500: `APIError` as is; `SubsonicError` as a failed `subsonic-response`;
/// Hummingbird's `HTTPError` (no such route: 404, body too large: 413) with its status; anything else as a
/// 500 whose details go to the log, not to the client.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return Self.response(error)
        } catch let error as SubsonicError {
            return Subsonic.failure(error)
        } catch let error as any HTTPResponseError {
            // Hummingbird's own: no such route (404), a body past its limit (413: NIOTooManyBytesError), ….
            let http = error as? HTTPError
            var message = http?.body ?? error.status.reasonPhrase
            var field: String?
            if error.status == .notFound && http?.body == nil {
                message = "no route \(request.method) \(request.uri.path); see docs/openapi.yaml for the routes"
            } else if error.status == .contentTooLarge {
                field = "body"
                message = "the request body is larger than this route accepts"
            }
            return Self.response(APIError(error.status, field: field, message))
        } catch let error as LibraryError {
            context.logger.error("library error: \(error)")
            return Self.response(APIError(.internalServerError, String(describing: error)))
        } catch {
            context.logger.error("unexpected error: \(String(reflecting: error))")
            return Self.response(APIError(.internalServerError, "internal error; the server log has the details"))
        }
    }

    static func response(_ error: APIError) -> Response {
        let body: [String: Any] = [
            "error": ["field": error.field.map { $0 as Any } ?? NSNull(), "message": error.message]
        ]
        return JSONBody.response(body, status: error.status)
    }
}

/// JSON responses from plain dictionaries and arrays (`JSONText`: sorted keys, slashes unescaped, so paths stay
/// readable).
enum JSONBody {
    static func response(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: JSONText.bytes(object))))
    }
}
