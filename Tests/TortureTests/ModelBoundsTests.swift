import AudioDecoding
import Foundation
import Analysis
import RetrieveCore
import SequenceEncoding
import Testing
import TestSupport

/// Model files whose configuration has one numeric field out of bounds (every field the metadata carries: the
/// front end's rate, FFT, hop, bands, frequencies and dB, the network's sizes, segments, classes, scale, level
/// range, band statistics): loading refuses each with one line naming the file and the field, and the CLI exits
/// with status 1 and that line, never a trap, a huge allocation or an endless FFT plan.
@Suite(.serialized) struct ModelBoundsTests {
    /// (field named in the refusal, where the value goes: "features.x" or "x", the hostile value).
    static let cases: [(field: String, key: String, value: any Sendable)] = [
        ("features.sampleRate", "features.sampleRate", 0), ("features.sampleRate", "features.sampleRate", -22_050),
        ("features.sampleRate", "features.sampleRate", 1_000_000_000),
        ("features.fftSize", "features.fftSize", 0), ("features.fftSize", "features.fftSize", 2_047),
        ("features.fftSize", "features.fftSize", 1 << 30), ("features.fftSize", "features.fftSize", -2_048),
        ("features.hopLength", "features.hopLength", 0), ("features.hopLength", "features.hopLength", -512),
        ("features.hopLength", "features.hopLength", 1), ("features.hopLength", "features.hopLength", 1 << 30),
        ("features.melBands", "features.melBands", 0), ("features.melBands", "features.melBands", 1 << 20),
        ("features.mfccCount", "features.mfccCount", 0), ("features.mfccCount", "features.mfccCount", 100_000),
        ("features.minFrequency", "features.minFrequency", -1.0),
        ("features.minFrequency", "features.minFrequency", 1e12),
        ("features.maxFrequency", "features.maxFrequency", 0.0),
        ("features.maxFrequency", "features.maxFrequency", 1e9),
        ("features.topDecibels", "features.topDecibels", -80.0), ("features.topDecibels", "features.topDecibels", 80.0),
        ("inputSize", "inputSize", 0), ("inputSize", "inputSize", 1 << 20),
        ("hiddenSize", "hiddenSize", 0), ("hiddenSize", "hiddenSize", -12), ("hiddenSize", "hiddenSize", 1 << 40),
        ("layers", "layers", 0), ("layers", "layers", 1_000),
        ("embeddingSize", "embeddingSize", 0), ("embeddingSize", "embeddingSize", 1 << 20),
        ("segmentFrames", "segmentFrames", 0), ("segmentFrames", "segmentFrames", 1 << 30),
        ("segmentHopFrames", "segmentHopFrames", 0), ("segmentHopFrames", "segmentHopFrames", -3),
        ("classNames", "classNames", [String]()),
        ("logitScale", "logitScale", 0.0), ("logitScale", "logitScale", -16.0), ("logitScale", "logitScale", 1e30),
        ("levelRange", "levelRange", 0.0), ("levelRange", "levelRange", 500.0),
        ("bandMean", "bandMean", [Float](repeating: 0, count: 3)),
        ("bandMean[0]", "bandMean", [1e30] + [Float](repeating: 0, count: 127)),
        ("bandStd[0]", "bandStd", [0] + [Float](repeating: 1, count: 127)),
        ("bandStd[5]", "bandStd", [Float](repeating: 1, count: 5) + [-1] + [Float](repeating: 1, count: 122)),
    ]

    static func write(_ c: (field: String, key: String, value: any Sendable), to url: URL) throws {
        let bytes = try HostileModelFileTests.rewritten { header in
            HostileModelFileTests.editConfiguration(&header) { configuration in
                if c.key.hasPrefix("features.") {
                    var features = configuration["features"] as! [String: Any]
                    features[String(c.key.dropFirst("features.".count))] = c.value
                    configuration["features"] = features
                } else {
                    configuration[c.key] = c.value
                }
            }
        }
        try Data(bytes).write(to: url)
    }

    @Test func everyOutOfRangeFieldIsRefusedByName() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-model-bounds")
        for (i, c) in Self.cases.enumerated() {
            let url = folder.path("bad-\(i).safetensors")
            try Self.write(c, to: url)
            do {
                _ = try ModelFile.load(path: url.path)
                Issue.record("\(c.key) = \(c.value) was loaded")
            } catch {
                let text = error.description
                #expect(text.contains(url.path) && text.contains(c.field) && !text.contains("\n"),
                        "\(c.key) = \(c.value): \(text)")
            }
        }
    }

    /// The crashes the hostile trial found, through the CLI: status 1, one line naming the file and the field,
    /// nothing written. (The CLI loads through the same `ModelFile.load` as above, which sees every case; running
    /// all of them as child processes held a test thread long enough to starve other suites on two cores.)
    static let crashes: Set<String> = ["features.sampleRate", "features.fftSize", "features.hopLength", "hiddenSize",
                                       "bandStd[0]"]

    @Test func theCommandLineRefusesThemWithOneLine() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-model-bounds-cli")
        let audio = folder.path("t.wav")
        try AudioFileWriter.write(Torture.tone(1, seconds: 1), sampleRate: 22_050, format: .wav16, to: audio)
        for (i, c) in Self.cases.enumerated() where Self.crashes.contains(c.field) {
            let url = folder.path("bad-\(i).safetensors")
            try Self.write(c, to: url)
            try DamagedStateTests.expectRefusal(["embed", audio.path, "--out", folder.path("e.npy").path, "--model", url.path],
                                                in: folder.url, mentioning: c.field)
        }
    }

    /// The shipped-style configurations stay inside the bounds.
    @Test func realConfigurationsAreAccepted() throws {
        #expect(EncoderConfiguration(classNames: ["a"]).problem == nil)
        let longFile = FeatureConfiguration(sampleRate: 2_000, fftSize: 2_048, hopLength: 2_048, topDecibels: nil)
        #expect(longFile.problem() == nil)
        #expect(FeatureConfiguration.standard.problem() == nil)
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Index/default-model.safetensors")
        if FileManager.default.fileExists(atPath: shipped.path) { _ = try ModelFile.load(path: shipped.path) }
    }
}

/// Where `--model` comes from, and the one sentence each failure to load it gets.
@Suite struct ModelFileLocationTests {
    @Test func optionThenEnvironmentThenShipped() {
        let env = [ModelFile.environmentVariable: "/env/m.safetensors"]
        #expect(ModelFile.locate(option: "/opt/m.safetensors", environment: env)
            == ModelFile.Location(path: "/opt/m.safetensors", source: .option))
        #expect(ModelFile.locate(option: nil, environment: env) == ModelFile.Location(path: "/env/m.safetensors", source: .environment))
        let shipped = ModelFile.locate(option: nil, environment: [ModelFile.environmentVariable: ""])
        #expect(shipped.source == .shipped && shipped.path.hasSuffix("/Index/" + ModelFile.defaultFileName))
    }

    @Test func eachFailureIsOneSentenceNamingTheFileAndTheRemedy() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-model-file")
        let cases: [(ModelFile.Location, String)] = [
            (ModelFile.Location(path: folder.path("none.safetensors").path, source: .environment), "RETRIEVE_MODEL"),
            (ModelFile.Location(path: folder.path("none.safetensors").path, source: .option), "retrieve train"),
            (ModelFile.Location(path: folder.url.path, source: .option), "is a folder"),
        ]
        for (location, remedy) in cases {
            do {
                _ = try ModelFile.load(location)
                Issue.record("\(location) loaded")
            } catch {
                #expect(error.description.contains(location.path) && error.description.contains(remedy)
                        && !error.description.contains("\n"), "\(error.description)")
            }
        }
    }
}
