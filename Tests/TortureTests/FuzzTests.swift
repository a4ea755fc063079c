import AudioDecoding
import Foundation
import Analysis
import Library
import Training
import Evaluation
import SimilaritySearch
import RetrieveCore
import SequenceEncoding
import SpectralFeatures
import Testing
import TestSupport

/// Property-based fuzzing of the two entry points that read untrusted bytes: audio decoding (+ features and the
/// encoder) and model loading. Every input must give an error or finite values; a crash fails the whole run.
///
/// Runs `RETRIEVE_FUZZ_SECONDS` per target (default 2). The input under test is written to
/// `$TMPDIR/retrieve-fuzz-<pid>/` before each execution, so after a crash the culprit is on disk; crashing
/// inputs found so far live in `Fixtures/` and are replayed first on every run.
@Suite struct FuzzTests {
    static let workFolder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("retrieve-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    static var fixtures: [URL] {
        guard let folder = Bundle.module.url(forResource: "Fixtures", withExtension: nil),
              let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        return names.filter { !$0.hasPrefix(".") }.sorted().map { folder.appendingPathComponent($0) }
    }

    /// One mutation step, in the spirit of libFuzzer's mutators: flips, overwrites with interesting values,
    /// inserts, erases, duplicates, and truncates.
    static func mutate(_ input: [UInt8], _ rng: inout SeededGenerator, headerBias: Int = 64) -> [UInt8] {
        var bytes = input
        let steps = Int.random(in: 1...8, using: &rng)
        let interesting32: [UInt32] = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000,
                                       0xFFFF_FFFF, 44_100, 192_000]
        for _ in 0..<steps {
            if bytes.isEmpty { bytes = Torture.randomBytes(Int.random(in: 1...64, using: &rng), &rng) }
            // Half of the mutations hit the header, where the parsing happens.
            let span = Bool.random(using: &rng) ? min(bytes.count, headerBias) : bytes.count
            let at = Int.random(in: 0..<span, using: &rng)
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: bytes[at] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            case 1: bytes[at] = UInt8.random(in: 0...255, using: &rng)
            case 2:
                let value = interesting32.randomElement(using: &rng)!
                for k in 0..<4 where at + k < bytes.count { bytes[at + k] = UInt8((value >> (8 * UInt32(k))) & 0xFF) }
            case 3: bytes.insert(contentsOf: Torture.randomBytes(Int.random(in: 1...32, using: &rng), &rng), at: at)
            case 4: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...256, using: &rng)))
            case 5:
                let length = min(bytes.count - at, Int.random(in: 1...512, using: &rng))
                let chunk = Array(bytes[at..<(at + length)])
                bytes.insert(contentsOf: chunk, at: Int.random(in: 0...bytes.count, using: &rng))
            case 6: bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
            default:
                let other = Int.random(in: 0..<bytes.count, using: &rng)
                bytes.swapAt(at, other)
            }
        }
        return bytes
    }

    /// Decodes, extracts log-mel frames and embeds one file; throws for bad input, traps (fails) for a crash.
    static func decodeAndAnalyse(_ url: URL, analyser: EncoderAnalyser, extractor: FeatureExtractor) throws -> Bool {
        let decoder = AudioDecoder(targetSampleRate: 22_050)
        let audio = try decoder.decode(url, maxSeconds: 20)
        guard audio.samples.allSatisfy(\.isFinite) else { return false }
        let logMel = extractor.logMel(Array(audio.samples.prefix(22_050 * 2)))
        guard logMel.storage.allSatisfy(\.isFinite) else { return false }
        let analysis = try analyser.analyse(path: url.path)
        return analysis.embedding.values.allSatisfy(\.isFinite) && analysis.info.duration.isFinite && analysis.info.duration >= 0
    }

    /// The counts one fuzz run reports.
    struct FuzzTally: Sendable {
        var executions = 0, accepted = 0, nonFinite = 0
        var rejected: [String: Int] = [:]
    }

    @Test func decoderAndFeaturesSurviveRandomAndMutatedFiles() async throws {
        let tally = try await runOnOwnThread { try Self.fuzzDecoding() }
        #expect(tally.nonFinite == 0, "\(tally.nonFinite) inputs decoded to non-finite values; kept in \(Self.workFolder.path)")
        print("fuzz decode+features+encoder: \(tally.executions) executions, \(tally.accepted) accepted, rejected \(tally.rejected)")
    }

    static func fuzzDecoding() throws -> FuzzTally {
        let folder = try TemporaryDirectory(prefix: "retrieve-fuzz-seeds")
        let modelURL = folder.path("model.safetensors")
        try Torture.makeModel(at: modelURL, seed: 8)
        let analyser = try EncoderAnalyser(encoder: try SequenceEncoding.Encoder.load(contentsOf: modelURL))
        let extractor = try FeatureExtractor()
        var seeds: [(ext: String, bytes: [UInt8])] = []
        let formats: [(AudioFileFormat, Int, Int)] = [
            (.wav16, 22_050, 1), (.wavFloat, 8_000, 2), (.flac16, 44_100, 2), (.oggVorbis, 22_050, 1),
            (.mp3, 44_100, 1), (.aiff16, 16_000, 1), (.opus, 48_000, 1),
        ]
        for (i, (format, rate, channels)) in formats.enumerated() {
            let url = folder.path("seed\(i).\(format.fileExtension)")
            let mono = Torture.tone(i, seconds: 0.3, sampleRate: rate)
            let samples = channels == 1 ? mono : mono.flatMap { [$0, -$0] }
            try AudioFileWriter.write(samples, channels: channels, sampleRate: rate, format: format, to: url)
            seeds.append((format.fileExtension, Array(try Data(contentsOf: url))))
        }
        // Crashers found before are replayed first (see also `crashersFoundByFuzzingAreRejected`).
        for fixture in Self.fixtures where CollectionScanner.isAudioName(fixture.path) {
            _ = try? Self.decodeAndAnalyse(fixture, analyser: analyser, extractor: extractor)
        }
        var rng = SeededGenerator(seed: UInt64(ProcessInfo.processInfo.environment["RETRIEVE_FUZZ_SEED"] ?? "") ?? 1)
        let deadline = Date().addingTimeInterval(TortureMode.fuzzSeconds)
        var tally = FuzzTally()
        var previous: URL?
        repeat {
            let seed = seeds.randomElement(using: &rng)!
            let bytes = Int.random(in: 0..<10, using: &rng) == 0
                ? Torture.randomBytes(Int.random(in: 0...2_048, using: &rng), &rng)
                : Self.mutate(seed.bytes, &rng)
            let url = Self.workFolder.appendingPathComponent("current-audio.\(seed.ext)")
            // One current input at a time, so after a crash the culprit is the only file left.
            if let previous, previous != url { try? FileManager.default.removeItem(at: previous) }
            previous = url
            try Data(bytes).write(to: url)
            do {
                if try Self.decodeAndAnalyse(url, analyser: analyser, extractor: extractor) {
                    tally.accepted += 1
                } else {
                    tally.nonFinite += 1
                    let keep = Self.workFolder.appendingPathComponent("nonfinite-\(tally.executions).\(seed.ext)")
                    try? FileManager.default.copyItem(at: url, to: keep)
                }
            } catch {
                tally.rejected[String(describing: type(of: error)), default: 0] += 1
            }
            tally.executions += 1
        } while Date() < deadline
        return tally
    }

    /// Inputs that crashed the fuzzer once: each must now be an error or finite audio, through the decoder
    /// (whole and streamed) and the analyser.
    @Test func crashersFoundByFuzzingAreRejected() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-fuzz-crashers")
        let modelURL = folder.path("model.safetensors")
        try Torture.makeModel(at: modelURL, seed: 8)
        let analyser = try EncoderAnalyser(encoder: try SequenceEncoding.Encoder.load(contentsOf: modelURL))
        let crashers = Self.fixtures.filter { $0.lastPathComponent.hasPrefix("crash-") }
        #expect(!crashers.isEmpty)
        for url in crashers where CollectionScanner.isAudioName(url.path) {
            if let audio = try? AudioDecoder().decode(url) { #expect(audio.samples.allSatisfy { $0.isFinite }) }
            try? AudioDecoder().stream(url) { block in #expect(block.allSatisfy { $0.isFinite }) }
            if let analysis = try? analyser.analyse(path: url.path) {
                #expect(analysis.embedding.values.allSatisfy { $0.isFinite })
            }
        }
    }

    @Test func modelLoaderSurvivesMutatedFiles() async throws {
        let tally = try await runOnOwnThread { try Self.fuzzModelLoading() }
        #expect(tally.nonFinite == 0)
        print("fuzz model loader: \(tally.executions) executions, \(tally.accepted) loaded, rejected \(tally.rejected)")
    }

    static func fuzzModelLoading() throws -> FuzzTally {
        let folder = try TemporaryDirectory(prefix: "retrieve-fuzz-models")
        var seeds: [[UInt8]] = []
        for (i, size) in [4, 8].enumerated() {
            let url = folder.path("seed\(i).safetensors")
            try Torture.makeModel(at: url, seed: UInt64(30 + i), embeddingSize: size)
            seeds.append(Array(try Data(contentsOf: url)))
        }
        for fixture in Self.fixtures where fixture.pathExtension == "safetensors" {
            _ = try? SequenceEncoding.Encoder.decode(bytes: Array(try Data(contentsOf: fixture)), path: fixture.path)
        }
        var rng = SeededGenerator(seed: UInt64(ProcessInfo.processInfo.environment["RETRIEVE_FUZZ_SEED"] ?? "") ?? 2)
        let deadline = Date().addingTimeInterval(TortureMode.fuzzSeconds)
        var tally = FuzzTally()
        let current = Self.workFolder.appendingPathComponent("current-model.safetensors")
        repeat {
            let seed = seeds.randomElement(using: &rng)!
            var bytes: [UInt8]
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: bytes = Self.mutate(seed, &rng, headerBias: 8)
            case 1: bytes = Self.mutateHeaderText(seed, &rng)
            default: bytes = Self.mutate(seed, &rng, headerBias: Self.headerLength(seed) + 8)
            }
            try Data(bytes).write(to: current)
            do {
                let (encoder, _) = try SequenceEncoding.Encoder.decode(bytes: bytes, path: current.path)
                tally.accepted += 1
                // A model that loads must also run: one short segment in, a finite unit vector out.
                let frames = Matrix(rows: encoder.configuration.segmentFrames, columns: encoder.configuration.inputSize,
                                    storage: (0..<(encoder.configuration.segmentFrames * encoder.configuration.inputSize))
                                        .map { Float($0 % 97) - 60 })
                let embedding = encoder.embed(segments: [frames])
                if !(embedding.first?.values.allSatisfy(\.isFinite) ?? false) { tally.nonFinite += 1 }
            } catch {
                tally.rejected[Self.caseName(error), default: 0] += 1
            }
            tally.executions += 1
        } while Date() < deadline
        return tally
    }

    static func headerLength(_ bytes: [UInt8]) -> Int {
        (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
    }

    /// Mutates the JSON header as text: numbers become other (often huge or negative) numbers, keys and
    /// dtypes are swapped, brackets dropped. The length prefix is kept consistent so parsing goes deep.
    static func mutateHeaderText(_ bytes: [UInt8], _ rng: inout SeededGenerator) -> [UInt8] {
        let length = headerLength(bytes)
        var header = Array(bytes[8..<(8 + length)])
        let replacements: [String] = ["-1", "0", "1", "4294967296", "9223372036854775807", "99999999999999999999",
                                      "1e300", "\"F16\"", "null", "[]", "{}", "[1,2,3]", "true", "3.5"]
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            // Replace a run of digits (or a random short span) with a hostile token.
            let digitStarts = header.indices.filter { i in
                (header[i] >= 0x30 && header[i] <= 0x39) && (i == 0 || !(header[i - 1] >= 0x30 && header[i - 1] <= 0x39))
            }
            guard let start = digitStarts.randomElement(using: &rng) else { break }
            var end = start
            while end < header.count && header[end] >= 0x30 && header[end] <= 0x39 { end += 1 }
            if Int.random(in: 0..<5, using: &rng) == 0 { end = min(header.count, start + Int.random(in: 1...6, using: &rng)) }
            header.replaceSubrange(start..<end, with: Array(replacements.randomElement(using: &rng)!.utf8))
        }
        let data = Array(bytes[(8 + length)...])
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        return out + header + data
    }

    static func caseName(_ error: any Error) -> String {
        Mirror(reflecting: error).children.first?.label ?? String(describing: type(of: error))
    }
}

/// Hostile model headers found by reading the loader (and by the fuzzer): each must be a `ModelFileError`.
@Suite struct HostileModelFileTests {
    /// A valid model file with its JSON header rewritten by `edit`.
    static func rewritten(_ edit: (inout [String: Any]) -> Void) throws -> [UInt8] {
        let folder = try TemporaryDirectory(prefix: "retrieve-hostile-model")
        let url = folder.path("m.safetensors")
        try Torture.makeModel(at: url, seed: 1)
        let bytes = Array(try Data(contentsOf: url))
        let length = FuzzTests.headerLength(bytes)
        var header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + length)])) as? [String: Any])
        edit(&header)
        let json = Array(try JSONSerialization.data(withJSONObject: header))
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        return out + json + Array(bytes[(8 + length)...])
    }

    static func editConfiguration(_ header: inout [String: Any], _ edit: (inout [String: Any]) -> Void) {
        var metadata = header["__metadata__"] as! [String: String]
        var configuration = try! JSONSerialization.jsonObject(with: Data(metadata["configuration"]!.utf8)) as! [String: Any]
        edit(&configuration)
        metadata["configuration"] = String(decoding: try! JSONSerialization.data(withJSONObject: configuration), as: UTF8.self)
        header["__metadata__"] = metadata
    }

    static func expectModelFileError(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try SequenceEncoding.Encoder.decode(bytes: bytes, path: "hostile.safetensors")
            Issue.record("a hostile model file loaded", sourceLocation: sourceLocation)
        } catch {
            #expect(!error.description.contains("\n") && error.description.contains("hostile.safetensors"),
                    sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: [[Int64(1) << 32, Int64(1) << 32], [Int64.max, 2], [Int64(1) << 62, 4], [-1, 12],
                      [Int64(1) << 61]])
    func tensorShapeWhoseElementCountOverflows(shape: [Int64]) throws {
        Self.expectModelFileError(try Self.rewritten { header in
            var entry = header["projection.bias"] as! [String: Any]
            entry["shape"] = shape
            header["projection.bias"] = entry
        })
    }

    @Test func dataOffsetsBeyondAnyFile() throws {
        Self.expectModelFileError(try Self.rewritten { header in
            var entry = header["projection.bias"] as! [String: Any]
            entry["data_offsets"] = [Int64.max - 32, Int64.max]  // 8 floats, as the shape says
            header["projection.bias"] = entry
        })
    }

    @Test(arguments: ["hiddenSize", "embeddingSize", "layers", "segmentFrames"])
    func configurationSizesThatOverflowOrExhaustMemory(key: String) throws {
        for value in [Int64(1) << 62, Int64(1) << 40, Int64(1) << 30] {
            Self.expectModelFileError(try Self.rewritten { header in
                Self.editConfiguration(&header) { $0[key] = value }
            })
        }
    }
}
