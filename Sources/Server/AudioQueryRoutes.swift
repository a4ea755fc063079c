import Analysis
import Foundation
import Hummingbird
import Library
import RetrieveCore
import SequenceEncoding

extension APIRoutes {
    /// The filters of "sounds like"; identification ranks every indexed track and takes none of them.
    static let styleOnlyParameters = ["excludeSameArtist", "excludeSameAlbum", "under", "dedupe", "dedupeThreshold"]

    /// `POST /api/similar/audio`: an audio clip in the body (raw, or the file part of `multipart/form-data`),
    /// analysed with the loaded model. By default the tracks that sound like it; with `identify=true` the indexed
    /// recordings it comes from (an excerpt, a degraded copy), by segment matching as `retrieve similar CLIP
    /// --identify` does, also trying the clip pitch-shifted unless `exactPitch=true`.
    func similarAudio(_ request: Request) async throws -> Response {
        let query = QueryParameters(request)
        let k = try query.int("k", default: 10, in: 1...limits.maxResults)
        let identify = try query.bool("identify")
        let exactPitch = try query.bool("exactPitch")
        guard identify || !exactPitch else {
            throw APIError.invalid("exactPitch", "exactPitch only applies with identify=true")
        }
        let filters = try Seeds.filters(query)
        let snapshot = state.snapshot
        if identify {
            if let field = Self.styleOnlyParameters.first(where: { query.string($0) != nil }) {
                throw APIError.invalid(
                    field, "identify ranks every indexed track by its recording; it does not combine with \(field)")
            }
            // Before the upload is analysed (seconds): an index without segments cannot answer at all.
            guard snapshot.engine.keepsSegments else {
                throw APIError(
                    .conflict, field: "identify",
                    "identify matches segment embeddings, which the index \(state.databaseName) does not keep for "
                        + "this model; run `retrieve index --segments DIR` on the collection (same --db) and the "
                        + "server picks them up, or leave out identify for tracks that sound alike")
            }
        }
        let (audio, filename) = try await Self.upload(request, limits: limits)
        let results: [SimilarTrack]
        let ownRow: Int?
        if identify {
            let pitchOffsets = exactPitch ? [] : RobustFrontEnd.pitchOffsets
            (results, ownRow) = try await analyser.run(audio, filename: filename) { analyser, path in
                let variants = try UploadAnalyser.analysable {
                    try analyser.identificationSegments(path: path, pitchOffsets: pitchOffsets)
                }
                let engine = snapshot.engine
                return (try engine.identify(variants: variants, k: k), engine.row(matchingContentOf: path))
            }
        } else {
            let (analysis, row) = try await analyser.run(audio, filename: filename) { analyser, path in
                let analysis = try UploadAnalyser.analysable { try analyser.analyse(path: path) }
                return (analysis, snapshot.engine.row(matchingContentOf: path))
            }
            results = snapshot.engine.similar(
                to: [analysis.embedding], seedRows: row.map { [$0] } ?? [], k: k, filters: filters,
                seedTimbres: analysis.timbre.map { [$0] } ?? [])
            ownRow = row
        }
        var body: [String: Any] = ["results": results.map(TrackJSON.result), "identify": identify]
        body["indexedCopy"] = ownRow.map { TrackJSON.object(snapshot.engine.tracks[$0]) } ?? NSNull()
        return JSONBody.response(body)
    }

    /// The uploaded audio and its file name: the body, or the file part of a `multipart/form-data` body.
    static func upload(_ request: Request, limits: ServerLimits) async throws -> (Data, String?) {
        let data = try await BodyReader.collect(request, limit: limits.maxUploadBytes, timeout: limits.bodyTimeout)
        var audio = data
        var filename: String?
        if let contentType = request.headers[.contentType], let boundary = Multipart.boundary(contentType: contentType)
        {
            let part = try Multipart.filePart(data, boundary: boundary)
            audio = part.data
            filename = part.filename
        }
        guard !audio.isEmpty else {
            throw APIError.invalid("body", "the upload is empty; send the audio file as the body")
        }
        return (audio, filename)
    }
}

/// Analyses uploaded clips one at a time on a thread of its own (they are seconds of CPU each; two cores are
/// shared with the queries), with the model the server loaded. Identification's segment matching runs there
/// too, off the server's threads.
final class UploadAnalyser: @unchecked Sendable {
    private let encoder: SequenceEncoding.Encoder
    private let queue = DispatchQueue(label: "retrieve.serve.analysis")
    /// Made on `queue` at the first upload, used only there.
    private var analyser: EncoderAnalyser?

    init(encoder: SequenceEncoding.Encoder) { self.encoder = encoder }

    /// Writes the clip to a temporary file (named with the upload's extension, which the decoder goes by) and
    /// runs `work` on it on the analysis thread; the file is removed afterwards.
    func run<T: Sendable>(
        _ audio: Data, filename: String?, _ work: @escaping @Sendable (EncoderAnalyser, String) throws -> T
    ) async throws -> T {
        let ext =
            filename.map { URL(fileURLWithPath: $0).pathExtension.lowercased() }
            .flatMap { $0.count <= 5 && $0.allSatisfy({ $0.isLetter || $0.isNumber }) ? $0 : nil } ?? "upload"
        let file = FileManager.default.temporaryDirectory
            .appendingPathComponent("retrieve-upload-\(UUID().uuidString).\(ext.isEmpty ? "upload" : ext)")
        return try await withCheckedThrowingContinuation { continuation in
            queue.async { [self] in
                defer { try? FileManager.default.removeItem(at: file) }
                do {
                    try audio.write(to: file)
                    if analyser == nil { analyser = try EncoderAnalyser(encoder: encoder) }
                    continuation.resume(returning: try work(analyser!, file.path))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// `body`'s result; its error as a 422 (field `body`): the upload is not audio the decoder can read.
    static func analysable<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw APIError(.unprocessableContent, field: "body", "the upload could not be analysed as audio: \(error)")
        }
    }
}
