import Foundation
import Analysis
import AudioDecoding
public import RetrieveCore
import SpectralFeatures

/// Log-mel features of training files, computed once and kept on disk, so training decodes each file once
/// rather than every epoch (or every run: a second `retrieve train` with other settings reuses the cache).
///
/// Entries are keyed by the file's content hash and the feature configuration, so a changed file or another
/// front end never reuses stale features. Each entry is a float32 `.npy` (frames × bands).
public final class FeatureCache: @unchecked Sendable {
    public let directory: String
    public let configuration: FeatureConfiguration
    /// At most this many seconds of each file are analysed (long files would dominate memory and time).
    public let maxSeconds: Double?
    let configurationKey: String

    public init(directory: String, configuration: FeatureConfiguration, maxSeconds: Double? = nil) throws {
        self.directory = Paths.absolute(directory)
        self.configuration = configuration
        self.maxSeconds = maxSeconds
        // Sorted keys: without them JSONEncoder's key order changes from process to process on Linux, and every
        // run got a new key (measured: two `retrieve train` runs of one recipe wrote two full caches).
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = (try? encoder.encode(configuration)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        configurationKey = String(ContentHash.FNV1a64.of(json + "|\(maxSeconds ?? 0)"), radix: 16)
        try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
    }

    /// The log-mel of `path` (frames × melBands, topDecibels as configured), from the cache or computed now.
    public func logMel(path: String, extractor: FeatureExtractor) throws -> Matrix {
        let key = try ContentHash.ofFile(atPath: path).replacingOccurrences(of: ":", with: "-")
        let entry = directory + "/" + key + "-" + configurationKey + ".npy"
        if let cached = try? NumPyArray(contentsOf: URL(fileURLWithPath: entry)).matrix,
           cached.columns == configuration.melBands {
            return cached
        }
        let decoder = AudioDecoder(targetSampleRate: configuration.sampleRate)
        let streaming = StreamingLogMel(extractor: extractor)
        var frames = Matrix(rows: 0, columns: configuration.melBands)
        try decoder.stream(URL(fileURLWithPath: path), maxSeconds: maxSeconds) { block in
            frames.storage += streaming.push(block).storage
        }
        frames.storage += streaming.finish().storage
        let result = Matrix(rows: frames.storage.count / configuration.melBands, columns: configuration.melBands,
                            storage: frames.storage)
        try? NumPyArray(result).write(to: URL(fileURLWithPath: entry))
        return result
    }
}
