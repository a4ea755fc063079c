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
            // Before the upload is analysed (seconds): an index without segments of this build's kind cannot answer.
            do {
                try snapshot.engine.requireSegments(of: analyser.segmentVersion)
            } catch LibraryError.noSegments {
                throw APIError(
                    .conflict, field: "identify",
                    "identify matches segment embeddings, which the index \(state.databaseName) does not keep for "
                        + "this model; run `retrieve index --segments DIR` on the collection (same --db) and the "
                        + "server picks them up, or leave out identify for tracks that sound alike")
            } catch LibraryError.staleSegments {
                throw APIError(
                    .conflict, field: "identify",
                    "the index \(state.databaseName) keeps segment embeddings for this model made by an earlier "
                        + "identification front end, which cannot be matched against this build's; run `retrieve "
                        + "index --segments DIR` on the collection (same --db) to remake them and the server picks "
                        + "them up")
            }
        }
        let (audio, filename) = try await Self.upload(request, limits: limits)
        let results: [SimilarTrack]
        let ownRow: Int?
        if identify {
            let pitchOffsets = exactPitch ? [] : IdentificationFrontEnd.pitchOffsets
            (results, ownRow) = try await analyser.run(
                audio, filename: filename, .identification(pitchOffsets: pitchOffsets)
            ) { analysis, path in
                guard case .identification(let variants) = analysis else { throw UploadAnalyser.wrongKind }
                let engine = snapshot.engine
                return (
                    try engine.identify(variants: variants, segmentVersion: analyser.segmentVersion, k: k),
                    engine.row(matchingContentOf: path)
                )
            }
        } else {
            let (analysis, row) = try await analyser.run(audio, filename: filename, .style) { analysis, path in
                (analysis, snapshot.engine.row(matchingContentOf: path))
            }
            guard case .style(let embedding, let timbre) = analysis else { throw UploadAnalyser.wrongKind }
            results = snapshot.engine.similar(
                to: [embedding], seedRows: row.map { [$0] } ?? [], k: k, filters: filters,
                seedTimbres: timbre.map { [$0] } ?? [])
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
