public import Analysis
public import Foundation
import Hummingbird
public import RetrieveCore
public import SimilaritySearch

/// What the analysis of an uploaded clip gives a query: for "sounds like", the clip's embedding and timbre profile
/// (the profile as an index stores it); for identification, its segment embeddings as recorded and once per pitch
/// offset.
///
/// `retrieve serve` analyses each upload in a child process (`retrieve analyse-upload`, a command the help does
/// not list), which sends this back in `encoded` form: a decoder that crashes on a damaged or hostile file ends
/// that child, and the server answers 422 and goes on.
public enum UploadAnalysis: Sendable, Equatable {
    case style(embedding: Embedding, timbre: TimbreProfile?)
    case identification([[Embedding]])

    /// What the child is asked for.
    public enum Request: Sendable, Equatable {
        case style
        /// The pitch offsets in semitones besides the recording as it is (`IdentificationFrontEnd.pitchOffsets`; none for
        /// `exactPitch`).
        case identification(pitchOffsets: [Double])
    }

    /// The analysis `request` asks of the audio file at `path`, by `analyser` (in the child process).
    public static func analyse(_ request: Request, path: String, analyser: EncoderAnalyser) throws -> UploadAnalysis {
        switch request {
        case .style:
            let analysis = try analyser.analyse(path: path)
            return .style(embedding: analysis.embedding, timbre: analysis.timbre)
        case .identification(let pitchOffsets):
            return .identification(try analyser.identificationSegments(path: path, pitchOffsets: pitchOffsets))
        }
    }

    private static let magic = Array("RTUA1".utf8)

    /// Little-endian bytes: the magic, the kind (1 style, 2 identification) and the embedding size; then for
    /// style the embedding, a flag and the profile's `TimbreProfile.packed` values; for identification the number
    /// of variants and, per variant, its number of segments and their embeddings. Every value is a 32-bit word.
    public var encoded: Data {
        var words: [UInt32] = []
        func floats(_ values: [Float]) { words += values.map(\.bitPattern) }
        switch self {
        case .style(let embedding, let timbre):
            words += [1, UInt32(embedding.values.count)]
            floats(embedding.values)
            words.append(timbre == nil ? 0 : 1)
            if let timbre { floats(timbre.packed) }
        case .identification(let variants):
            // The size of any segment: the recording as it is may give none where a shifted copy gives some.
            let size = variants.lazy.flatMap { $0 }.first?.values.count ?? 0
            words += [2, UInt32(size), UInt32(variants.count)]
            for segments in variants {
                words.append(UInt32(segments.count))
                for segment in segments { floats(segment.values) }
            }
        }
        var data = Data(Self.magic)
        for word in words { withUnsafeBytes(of: word.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    /// The analysis `encoded` holds, its embeddings `dimensions` long (the server's model); nil when the bytes are
    /// not such an answer (cut short, another size, values that are not finite).
    public init?(encoded data: Data, dimensions: Int) {
        let bytes = [UInt8](data)
        guard bytes.count >= Self.magic.count + 8, Array(bytes.prefix(Self.magic.count)) == Self.magic,
            (bytes.count - Self.magic.count) % 4 == 0
        else { return nil }
        let words: [UInt32] = stride(from: Self.magic.count, to: bytes.count, by: 4).map { (i: Int) -> UInt32 in
            var word: UInt32 = 0
            for b in (0..<4).reversed() { word = word << 8 | UInt32(bytes[i + b]) }
            return word
        }
        var at = 0
        func word() -> UInt32? {
            guard at < words.count else { return nil }
            defer { at += 1 }
            return words[at]
        }
        func floats(_ count: Int) -> [Float]? {
            guard count >= 0, words.count - at >= count else { return nil }
            defer { at += count }
            let values = words[at..<at + count].map { Float(bitPattern: $0) }
            return values.allSatisfy { $0.isFinite } ? values : nil
        }
        guard let kind = word(), let size = word() else { return nil }
        switch kind {
        case 1:
            guard Int(size) == dimensions, let values = floats(dimensions), let flag = word(), flag <= 1 else {
                return nil
            }
            var timbre: TimbreProfile?
            if flag == 1 {
                guard let packed = floats(TimbreProfile.packedCount) else { return nil }
                timbre = TimbreProfile(packed: packed)
            }
            self = .style(embedding: Embedding(unchecked: values), timbre: timbre)
        case 2:
            guard let count = word(), count <= 64 else { return nil }
            var variants: [[Embedding]] = []
            for _ in 0..<count {
                guard let segments = word(), segments == 0 || Int(size) == dimensions,
                    let values = floats(Int(segments) * dimensions)
                else { return nil }
                variants.append(
                    (0..<Int(segments)).map {
                        Embedding(unchecked: Array(values[$0 * dimensions..<($0 + 1) * dimensions]))
                    })
            }
            self = .identification(variants)
        default:
            return nil
        }
        guard at == words.count else { return nil }
    }
}

/// How `retrieve serve` runs the analysis of an upload: which executable (itself) with which model file, and for
/// how long at most.
public struct UploadAnalysisSettings: Sendable {
    /// The `retrieve` executable whose `analyse-upload` command analyses a clip.
    public var executable: URL
    /// The model file the server loaded; the child loads it again and checks that its digest is the server's.
    public var modelPath: String
    /// The kind of identification segments the model makes (`EncoderAnalyser.segmentVersion`): identification
    /// matches an upload only against stored segments of that kind.
    public var segmentVersion: Int
    /// The longest an analysis may take before the child is killed and the request answered 422.
    public var timeout: TimeInterval = 300

    public init(executable: URL, modelPath: String, segmentVersion: Int) {
        self.executable = executable
        self.modelPath = modelPath
        self.segmentVersion = segmentVersion
    }
}

/// Analyses uploaded clips one at a time (they are seconds of CPU each; two cores are shared with the queries), each
/// in a child process of its own with the model the server loaded (`UploadAnalysis`). Identification's segment
/// matching runs on the same thread afterwards, off the server's threads.
final class UploadAnalyser: @unchecked Sendable {
    private let settings: UploadAnalysisSettings
    private let model: ModelVersion
    private let queue = DispatchQueue(label: "retrieve.serve.analysis")

    /// The kind of identification segments the child makes (`UploadAnalysisSettings.segmentVersion`).
    var segmentVersion: Int { settings.segmentVersion }

    init(settings: UploadAnalysisSettings, model: ModelVersion) {
        self.settings = settings
        self.model = model
    }

    /// Writes the clip to a temporary folder (named with the upload's extension, which the decoder goes by), has
    /// a child analyse it as `request` asks, and runs `work` on the analysis and the file's path on the analysis
    /// thread; the folder is removed afterwards. A clip that cannot be analysed, or whose analysis crashes or
    /// overruns, is a 422 naming the field `body`.
    func run<T: Sendable>(
        _ audio: Data, filename: String?, _ request: UploadAnalysis.Request,
        _ work: @escaping @Sendable (UploadAnalysis, String) throws -> T
    ) async throws -> T {
        let ext =
            filename.map { URL(fileURLWithPath: $0).pathExtension.lowercased() }
            .flatMap { !$0.isEmpty && $0.count <= 5 && $0.allSatisfy({ $0.isLetter || $0.isNumber }) ? $0 : nil }
            ?? "upload"
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "retrieve-upload-\(UUID().uuidString)")
        return try await withCheckedThrowingContinuation { continuation in
            queue.async { [self] in
                // The folder goes before the answer does, so nothing of the upload outlives its request.
                let result = Result<T, any Error> {
                    defer { try? FileManager.default.removeItem(at: folder) }
                    let file = folder.appendingPathComponent("clip.\(ext)")
                    try Self.store(audio, at: file)
                    let analysis = try analyse(file, request, in: folder)
                    return try work(analysis, file.path)
                }
                continuation.resume(with: result)
            }
        }
    }

    /// Writes the upload to `file` in a folder of its own; a folder or disk that takes no file is a 507 saying where.
    private static func store(_ audio: Data, at file: URL) throws {
        let folder = file.deletingLastPathComponent().deletingLastPathComponent().path
        do {
            // mkdir itself: Foundation's createDirectory reports a file in the way without its errno.
            guard mkdir(file.deletingLastPathComponent().path, 0o700) == 0 else {
                throw OutputFileError(path: folder, errno: errno)
            }
            try audio.write(to: file)
        } catch {
            let cause = error as? OutputFileError ?? OutputFileError(path: folder, error: error)
            throw APIError(
                HTTPResponse.Status(code: 507), field: "body",
                "the upload could not be written to the temporary folder \(folder): \(cause.problem); give it "
                    + "room, or start the server with TMPDIR naming a writable folder with free space")
        }
    }

    private func analyse(_ file: URL, _ request: UploadAnalysis.Request, in folder: URL) throws -> UploadAnalysis {
        let answer = folder.appendingPathComponent("analysis")
        var arguments = [
            "analyse-upload", "--model", settings.modelPath, "--model-digest", model.digest, "--out", answer.path,
        ]
        if case .identification(let offsets) = request {
            arguments.append("--identify")
            // One argument with `=`, so that a negative offset is not read as an option; none for exactPitch.
            if !offsets.isEmpty {
                arguments.append("--pitch-offsets=" + offsets.map { "\($0)" }.joined(separator: ","))
            }
        }
        arguments.append(file.path)
        // A crash's backtrace would take the Swift backtracer seconds and hundreds of MB; the answer says it crashed.
        var environment: [String: String] = [:]
        if ProcessInfo.processInfo.environment["SWIFT_BACKTRACE"] == nil {
            environment["SWIFT_BACKTRACE"] = "enable=no"
        }
        let child: Child
        do {
            child = try Child(
                settings.executable, arguments, output: folder.appendingPathComponent("child"), environment: environment
            )
        } catch {
            throw APIError(
                .internalServerError,
                "the upload could not be analysed: \(error); is \(settings.executable.path) "
                    + "still in place?")
        }
        guard let exit = child.wait(timeout: settings.timeout) else {
            child.send(SIGKILL)
            child.wait()
            throw APIError(
                .unprocessableContent, field: "body",
                "the analysis of the upload took longer than \(Int(settings.timeout)) s and was stopped; send a "
                    + "shorter clip")
        }
        let message = Self.lastLine(child.standardError)
        switch (exit.status, exit.signal) {
        case (0, _):
            guard let data = try? Data(contentsOf: answer),
                let analysis = UploadAnalysis(encoded: data, dimensions: model.dimensions)
            else {
                throw APIError(
                    .internalServerError, "the analysis of the upload sent back an answer the server cannot read")
            }
            return analysis
        case (UploadAnalysisExit.notAnalysable, _):
            throw APIError(
                .unprocessableContent, field: "body", "the upload could not be analysed as audio: \(message)")
        case (_, let signal?):
            throw APIError(
                .unprocessableContent, field: "body",
                "the analysis of the upload crashed (signal \(signal), \(ChildExit.name(ofSignal: signal))): the file "
                    + "is damaged or not the audio its name says; the server goes on")
        default:
            throw APIError(.internalServerError, "the upload could not be analysed: \(message)")
        }
    }

    /// The child answered another kind of analysis than it was asked for.
    static let wrongKind = APIError(
        .internalServerError, "the analysis of the upload sent back another kind of answer than it was asked for")

    /// The last non-empty line of a child's error output, without the `retrieve: ` its errors start with.
    static func lastLine(_ text: String) -> String {
        let line = text.split(whereSeparator: \.isNewline).last.map(String.init) ?? "(no message)"
        return line.hasPrefix("retrieve: ") ? String(line.dropFirst("retrieve: ".count)) : line
    }
}

/// The exit statuses of `retrieve analyse-upload` besides 0.
public enum UploadAnalysisExit {
    /// The clip is not audio the decoders can read (a 422 for the client).
    public static let notAnalysable: Int32 = 3
    /// The model could not be loaded or is not the server's (a 500: the server's set-up changed).
    public static let setUp: Int32 = 4
}
