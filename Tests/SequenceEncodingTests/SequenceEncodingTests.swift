import Foundation
import RetrieveCore
import Testing
import TestSupport
@testable import SequenceEncoding

@Suite struct SHA256Tests {
    @Test func fipsVectors() {
        #expect(SHA256.hexDigest(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hexDigest([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hexDigest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hexDigest([UInt8](repeating: 0x61, count: 1_000_000))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}

@Suite struct FastMathTests {
    @Test func sigmoidAndTanhMatchFoundation() {
        var worstSigmoid: Double = 0, worstTanh: Double = 0
        for i in stride(from: -20000, through: 20000, by: 7) {
            let x = Float(i) / 1000
            worstSigmoid = max(worstSigmoid, abs(Double(FastMath.sigmoid(x)) - 1 / (1 + Foundation.exp(-Double(x)))))
            worstTanh = max(worstTanh, abs(Double(FastMath.tanh(x)) - Foundation.tanh(Double(x))))
        }
        #expect(worstSigmoid < 3e-7)
        #expect(worstTanh < 5e-7)
        #expect(FastMath.sigmoid(-200) >= 0 && FastMath.sigmoid(200) == 1)
        #expect(FastMath.tanh(-200) == -1 && FastMath.tanh(200) == 1)
    }
}

@Suite struct ParityTests {
    /// PyTorch's forward pass (scripts/fixtures/lstm_parity.py) of a 2-layer bidirectional model, on every
    /// inference kernel this CPU can run; `conv` has mean pooling and a convolutional front end.
    @Test(arguments: ["mean", "attention", "conv", "conv2"], LSTMKernelPath.allCases)
    func forwardMatchesPyTorch(fixture: String, path: LSTMKernelPath) throws {
        guard path.isSupported else { return }
        let encoder = try Encoder.load(contentsOf: Fixtures.url("parity_\(fixture)_model.safetensors"))
        encoder.lstmKernel = path
        #expect(encoder.configuration.pooling.rawValue == (fixture.hasPrefix("conv") ? "mean" : fixture))
        #expect((encoder.configuration.frontEnd != nil) == fixture.hasPrefix("conv"))
        #expect((encoder.configuration.frontEnd?.second != nil) == (fixture == "conv2"))
        #expect(encoder.configuration.layers == 2 && encoder.configuration.bidirectional)
        let data = try Fixtures.safetensors("parity_\(fixture)_data.safetensors")
        let segments = Fixtures.segments(data.tensors["input"]!)
        let embeddings = encoder.embed(segments: segments)
        let flat = embeddings.flatMap(\.values)
        let expected = data.tensors["embeddings"]!.values
        #expect(Approx.relativeError(flat, expected) < 1e-4)
        #expect(Approx.maxAbsDifference(flat, expected) < 1e-5)
        print("forward parity (\(fixture), \(path)): max |Δ| \(Approx.maxAbsDifference(flat, expected))")
        let logits = encoder.logits(for: embeddings)
        #expect(Approx.relativeError(logits.storage, data.tensors["logits"]!.values) < 1e-4)
    }
}

@Suite struct ModelFileTests {
    static func smallConfiguration(pooling: Pooling = .mean) -> EncoderConfiguration {
        EncoderConfiguration(
            inputSize: 8, hiddenSize: 6, layers: 2, bidirectional: true, pooling: pooling, embeddingSize: 5,
            classNames: ["a", "b", "c"], logitScale: 4, segmentFrames: 7, segmentHopFrames: 3,
            features: FeatureConfiguration(melBands: 8, topDecibels: nil),
            bandMean: (0..<8).map { Float($0) - 40 }, bandStd: (0..<8).map { Float($0) + 5 })
    }

    @Test func saveAndLoadRoundTrip() throws {
        let dir = try TemporaryDirectory()
        let encoder = Encoder(configuration: Self.smallConfiguration(pooling: .attention), seed: 7)
        let url = dir.path("m.safetensors")
        try encoder.save(to: url, name: "small-v1")
        let loaded = try Encoder.load(contentsOf: url)
        #expect(loaded.configuration == encoder.configuration)
        #expect(loaded.flatParameters == encoder.flatParameters)
        #expect(loaded.version == encoder.version)
        #expect(loaded.version.name == "small-v1" && loaded.version.dimensions == 5)
        #expect(loaded.version.digest == SHA256.hexDigest([UInt8](try Data(contentsOf: url))))
        var rng = SeededGenerator(seed: 3)
        let segs = (0..<3).map { _ in rng.matrix(rows: 9, columns: 8, in: -50 ... -20) }
        #expect(loaded.embed(segments: segs) == encoder.embed(segments: segs))
    }

    /// A timbre reference set is stored with the model: saved and loaded unchanged, covered by the digest (the
    /// model's version changes with it), and checked on loading — both tensors or neither, 324 values per row,
    /// finite.
    @Test func timbreReferenceTravelsWithTheModel() throws {
        let dir = try TemporaryDirectory()
        let encoder = Encoder(configuration: Self.smallConfiguration(), seed: 2)
        let plainURL = dir.path("plain.safetensors"), url = dir.path("timbre.safetensors")
        try encoder.save(to: plainURL, name: "m")
        #expect(try Encoder.load(contentsOf: plainURL).timbreReference == nil)
        var rng = SeededGenerator(seed: 5)
        let rows = TimbreGaussian.packedCount
        let reference = Encoder.TimbreReferenceTensors(
            full: rng.matrix(rows: 3, columns: rows, in: -1...1), lowBand: rng.matrix(rows: 3, columns: rows, in: 0...2))
        let plain = encoder.version
        encoder.setTimbreReference(reference)
        #expect(encoder.version.digest != plain.digest, "an unsaved change of reference is another version")
        try encoder.save(to: url, name: "m")
        let loaded = try Encoder.load(contentsOf: url)
        #expect(loaded.timbreReference == reference && loaded.version == encoder.version)
        #expect(loaded.version.digest != plain.digest && loaded.flatParameters == encoder.flatParameters)

        func load(_ file: SafeTensorsFile) -> ModelFileError? {
            let path = dir.path("damaged.safetensors")
            try! Data(file.serialized()).write(to: path)
            do { _ = try Encoder.load(contentsOf: path); return nil } catch { return error }
        }
        let good = try SafeTensorsFile(bytes: [UInt8](try Data(contentsOf: url)), path: "x")
        var half = good
        half.tensors["timbre.reference.low"] = nil
        half.order.removeAll { $0 == "timbre.reference.low" }
        guard case .missingTensor(_, "timbre.reference.low") = load(half) else { Issue.record("half a reference"); return }
        var narrow = good
        narrow.tensors["timbre.reference.full"] = .init(shape: [3, 5], values: [Float](repeating: 1, count: 15))
        guard case .wrongShape(_, "timbre.reference.full", [3, 324], [3, 5]) = load(narrow) else {
            Issue.record("wrong shape"); return
        }
        var infinite = good
        infinite.tensors["timbre.reference.low"]!.values[7] = .infinity
        guard case .badTensor(_, "timbre.reference.low", _) = load(infinite) else { Issue.record("infinity"); return }
    }

    @Test func damagedFilesFailWithClearErrors() throws {
        let dir = try TemporaryDirectory()
        let encoder = Encoder(configuration: Self.smallConfiguration(), seed: 1)
        let good = encoder.serialized(name: "x")
        func load(_ bytes: [UInt8]) -> ModelFileError? {
            let url = dir.path("f\(bytes.count).safetensors")
            try! Data(bytes).write(to: url)
            do { _ = try Encoder.load(contentsOf: url); return nil } catch { return error }
        }
        // Missing file.
        do { _ = try Encoder.load(contentsOf: dir.path("absent.safetensors")); Issue.record("loaded a missing file") } catch {
            guard case .unreadable = error else { Issue.record("\(error)"); return }
            #expect(error.description.contains("absent.safetensors"))
        }
        // Truncated.
        guard case .truncated = load(Array(good.dropLast(10))) else { Issue.record("truncation not detected"); return }
        // Garbage.
        var rng = SeededGenerator(seed: 9)
        let garbage = (0..<500).map { _ in UInt8.random(in: 0...255, using: &rng) }
        guard case .notSafetensors = load(garbage) else { Issue.record("garbage not detected"); return }
        guard case .notSafetensors = load([1, 2, 3]) else { Issue.record("tiny file not detected"); return }
        // Wrong shape and missing tensor: rewrite the file with a modified tensor list.
        var file = try SafeTensorsFile(bytes: good, path: "x")
        file.tensors["projection.weight"] = .init(shape: [5, 13], values: [Float](repeating: 0, count: 65))
        guard case .wrongShape(_, "projection.weight", [5, 12], [5, 13]) = load(file.serialized()) else {
            Issue.record("wrong shape not detected"); return
        }
        var missing = try SafeTensorsFile(bytes: good, path: "x")
        missing.tensors["classifier.bias"] = nil
        missing.order.removeAll { $0 == "classifier.bias" }
        guard case .missingTensor(_, "classifier.bias") = load(missing.serialized()) else {
            Issue.record("missing tensor not detected"); return
        }
        var extra = try SafeTensorsFile(bytes: good, path: "x")
        extra.tensors["bogus"] = .init(shape: [1], values: [0]); extra.order.append("bogus")
        guard case .unexpectedTensor(_, "bogus") = load(extra.serialized()) else { Issue.record("extra tensor"); return }
        var newer = try SafeTensorsFile(bytes: good, path: "x")
        newer.metadata["configuration"] = newer.metadata["configuration"]!.replacingOccurrences(of: "\"formatVersion\":1", with: "\"formatVersion\":5")
        guard case .unsupportedFormatVersion(_, 5, 4) = load(newer.serialized()) else { Issue.record("version"); return }
    }

    /// With `levelRange`, a gain change (every dB value shifted alike) leaves the embedding unchanged, and the
    /// model file says format version 2 so that older builds refuse it; without it, gain moves the embedding.
    @Test func levelNormalisationIgnoresGain() throws {
        let small = Self.smallConfiguration()
        let config = EncoderConfiguration(
            inputSize: 8, hiddenSize: 6, layers: 2, bidirectional: true, embeddingSize: 5, classNames: small.classNames,
            logitScale: 4, segmentFrames: 7, segmentHopFrames: 3, features: small.features, bandMean: small.bandMean,
            bandStd: small.bandStd, levelRange: 80)
        #expect(config.formatVersion == 2 && small.formatVersion == 1)
        let leveled = Encoder(configuration: config, seed: 3)
        let plain = Encoder(configuration: Self.smallConfiguration(), seed: 3)
        var rng = SeededGenerator(seed: 9)
        let segment = rng.matrix(rows: 7, columns: 8, in: -60...30)
        func shifted(_ db: Float) -> Matrix {
            Matrix(rows: 7, columns: 8, storage: segment.storage.map { $0 + db })
        }
        let base = leveled.embed(segments: [segment])[0].values
        for gain: Float in [-20, -9, 6, 24] {
            let e = leveled.embed(segments: [shifted(gain)])[0].values
            #expect(Approx.maxAbsDifference(base, e) < 1e-5, "gain \(gain) dB")
        }
        let moved = plain.embed(segments: [shifted(-20)])[0].values
        #expect(Approx.maxAbsDifference(plain.embed(segments: [segment])[0].values, moved) > 1e-3)
        // Values below max − range are clamped: pushing them further down changes nothing.
        var deeper = segment
        deeper.storage[0] = segment.storage.max()! - 90
        var deepest = deeper
        deepest.storage[0] = -1000
        #expect(Approx.maxAbsDifference(leveled.embed(segments: [deeper])[0].values,
                                        leveled.embed(segments: [deepest])[0].values) < 1e-6)

        let dir = try TemporaryDirectory()
        try leveled.save(to: dir.path("l.safetensors"), name: "l")
        let file = try SafeTensorsFile(bytes: [UInt8](try Data(contentsOf: dir.path("l.safetensors"))), path: "l")
        #expect(file.metadata["configuration"]!.contains("\"formatVersion\":2"))
        let loaded = try Encoder.load(contentsOf: dir.path("l.safetensors"))
        #expect(loaded.configuration.levelRange == 80)
        #expect(Approx.maxAbsDifference(loaded.embed(segments: [segment])[0].values, base) == 0)
        try plain.save(to: dir.path("p.safetensors"), name: "p")
        let plainFile = try SafeTensorsFile(bytes: [UInt8](try Data(contentsOf: dir.path("p.safetensors"))), path: "p")
        #expect(plainFile.metadata["configuration"]!.contains("\"formatVersion\":1"))
        #expect(!plainFile.metadata["configuration"]!.contains("levelRange"))
    }

    /// A convolutional front end: PyTorch's tensor names and shapes first in the layout, a version-3 file that
    /// loads and embeds identically, a model identity of its own; a model without one writes no `frontEnd` key.
    @Test func frontEndModelFile() throws {
        var config = Self.smallConfiguration()
        config.frontEnd = ConvolutionalFrontEnd(channels: 3, kernelBands: 5, kernelFrames: 3, pool: 4)
        config.formatVersion = config.minimumFormatVersion  // as `init` sets it
        #expect(config.minimumFormatVersion == 3 && config.lstmInputSize == 6 && config.problem == nil)
        let layout = ParameterLayout(config)
        #expect(layout.specs.prefix(3).map(\.name) == ["frontend.conv.weight", "frontend.conv.bias", "lstm.weight_ih_l0"])
        #expect(layout["frontend.conv.weight"]!.shape == [3, 1, 5, 3] && layout["frontend.conv.bias"]!.shape == [3])
        #expect(layout["lstm.weight_ih_l0"]!.shape == [24, 6] && layout["frontend.conv.weight"]!.isDecayed)
        let encoder = Encoder(configuration: config, seed: 4)
        var rng = SeededGenerator(seed: 6)
        let segs = [7, 7, 4].map { rng.matrix(rows: $0, columns: 8, in: -60 ... -20) }
        let embeddings = encoder.embed(segments: segs)
        // Batching does not mix segments: the convolution of one segment never reads its neighbour's bands.
        for (i, s) in segs.enumerated() {
            #expect(Approx.maxAbsDifference(embeddings[i].values, encoder.embed(segments: [s])[0].values) < 1e-6)
        }
        let dir = try TemporaryDirectory()
        try encoder.save(to: dir.path("c.safetensors"), name: "c")
        let file = try SafeTensorsFile(bytes: [UInt8](try Data(contentsOf: dir.path("c.safetensors"))), path: "c")
        #expect(file.metadata["configuration"]!.contains("\"formatVersion\":3"))
        let loaded = try Encoder.load(contentsOf: dir.path("c.safetensors"))
        #expect(loaded.configuration == encoder.configuration)
        #expect(loaded.embed(segments: segs).map(\.values) == embeddings.map(\.values))
        let plain = Encoder(configuration: Self.smallConfiguration(), seed: 4)
        #expect(plain.version.digest != loaded.version.digest)
        let plainJSON = String(decoding: plain.serialized(name: "p"), as: UTF8.self)
        #expect(!plainJSON.contains("frontEnd") && plainJSON.contains("\\\"formatVersion\\\":1"))
        config.frontEnd!.pool = 3
        #expect(config.problem == "frontEnd.pool is 3; allowed a divisor of the 8 mel bands")
        #expect(!file.metadata["configuration"]!.contains("second"), "a one-stage front end writes no second stage")
    }

    /// A two-stage front end: the second convolution's PyTorch names and shapes after the first's, a version-4
    /// file (older builds refuse it) that loads and embeds identically, segments that do not mix in a batch, and
    /// the second stage's bounds named.
    @Test func twoStageFrontEndModelFile() throws {
        var config = Self.smallConfiguration()
        config.frontEnd = ConvolutionalFrontEnd(
            channels: 3, kernelBands: 5, kernelFrames: 3, pool: 2,
            second: ConvolutionalStage(channels: 4, kernelBands: 3, kernelFrames: 2, pool: 2))
        config.formatVersion = config.minimumFormatVersion
        #expect(config.minimumFormatVersion == 4 && config.lstmInputSize == 8 && config.problem == nil)
        let layout = ParameterLayout(config)
        #expect(layout.specs.prefix(5).map(\.name) == [
            "frontend.conv.weight", "frontend.conv.bias", "frontend.conv2.weight", "frontend.conv2.bias",
            "lstm.weight_ih_l0",
        ])
        #expect(layout["frontend.conv2.weight"]!.shape == [4, 3, 3, 2] && layout["frontend.conv2.bias"]!.shape == [4])
        #expect(layout["lstm.weight_ih_l0"]!.shape == [24, 8] && layout["frontend.conv2.weight"]!.isDecayed)
        let encoder = Encoder(configuration: config, seed: 4)
        var rng = SeededGenerator(seed: 6)
        let segs = [7, 7, 4, 1].map { rng.matrix(rows: $0, columns: 8, in: -60 ... -20) }
        let embeddings = encoder.embed(segments: segs)
        for (i, s) in segs.enumerated() {
            #expect(Approx.maxAbsDifference(embeddings[i].values, encoder.embed(segments: [s])[0].values) < 1e-6)
            #expect(embeddings[i].values.allSatisfy { $0.isFinite })
        }
        let dir = try TemporaryDirectory()
        try encoder.save(to: dir.path("c2.safetensors"), name: "c2")
        let file = try SafeTensorsFile(bytes: [UInt8](try Data(contentsOf: dir.path("c2.safetensors"))), path: "c2")
        #expect(file.metadata["configuration"]!.contains("\"formatVersion\":4"))
        let loaded = try Encoder.load(contentsOf: dir.path("c2.safetensors"))
        #expect(loaded.configuration == encoder.configuration)
        #expect(loaded.embed(segments: segs).map(\.values) == embeddings.map(\.values))
        config.frontEnd!.second!.pool = 3
        #expect(config.problem == "frontEnd.second.pool is 3; allowed a divisor of the first stage's 4 pooled bands")
        config.frontEnd!.second!.pool = 1
        config.frontEnd!.second!.channels = 0
        #expect(config.problem == "frontEnd.second.channels is 0; allowed 1…256")
        config.frontEnd!.second!.channels = 2
        config.frontEnd!.second!.kernelFrames = 65
        #expect(config.problem == "frontEnd.second.kernelFrames is 65; allowed 1…64")
    }

    @Test func segmentsCoverTheTrack() {
        let encoder = Encoder(configuration: Self.smallConfiguration(), seed: 1)
        let track = Matrix(rows: 20, columns: 8, storage: (0..<160).map(Float.init))
        let segs = encoder.segments(of: track)
        #expect(segs.map(\.rows) == [7, 7, 7, 7, 7, 7])
        #expect(segs.last!.row(6) == track.row(19))
        #expect(encoder.segments(of: track.rows(0..<4)).map(\.rows) == [4])
        #expect(encoder.segments(of: Matrix(rows: 0, columns: 8)).isEmpty)
        #expect(encoder.embedTrack(logMel: Matrix(rows: 0, columns: 8)) == nil)
        let e = encoder.embedTrack(logMel: track)!
        #expect(abs(e.values.reduce(0) { $0 + $1 * $1 } - 1) < 1e-5)
    }

    /// Variable lengths are grouped; each segment's embedding must equal embedding it alone.
    @Test func mixedLengthsMatchSingleSegments() {
        let encoder = Encoder(configuration: Self.smallConfiguration(pooling: .attention), seed: 2)
        var rng = SeededGenerator(seed: 5)
        let segs = [5, 7, 5, 3, 7].map { rng.matrix(rows: $0, columns: 8, in: -50 ... -20) }
        let batched = encoder.embed(segments: segs)
        for (i, s) in segs.enumerated() {
            #expect(Approx.maxAbsDifference(batched[i].values, encoder.embed(segments: [s])[0].values) < 1e-6)
        }
    }

    /// The reverse parity fixtures: a model saved by Swift, an input and Swift's embeddings, verified by
    /// `lstm_parity.py --check-swift-model`; `swift_conv_*` has a convolutional front end (mean pooling).
    /// Regenerate with RETRIEVE_WRITE_FIXTURES=/path/to/Fixtures.
    @Test(arguments: ["swift", "swift_conv"])
    func swiftSavedModelFixture(prefix: String) throws {
        if let dir = ProcessInfo.processInfo.environment["RETRIEVE_WRITE_FIXTURES"] {
            let base = URL(fileURLWithPath: dir)
            var config = Self.smallConfiguration(pooling: prefix == "swift" ? .attention : .mean)
            if prefix == "swift_conv" {
                config.frontEnd = ConvolutionalFrontEnd(channels: 2, kernelBands: 3, kernelFrames: 2, pool: 4)
            }
            let encoder = Encoder(configuration: config, seed: 42)
            var rng = SeededGenerator(seed: 43)
            let segs = (0..<4).map { _ in rng.matrix(rows: 9, columns: 8, in: -55 ... -25) }
            try encoder.save(to: base.appendingPathComponent("\(prefix)_model.safetensors"), name: "swift-parity")
            try NPY.write(segs.flatMap(\.storage), shape: [4, 9, 8], to: base.appendingPathComponent("\(prefix)_input.npy"))
            try NPY.write(encoder.embed(segments: segs).flatMap(\.values), shape: [4, 5],
                          to: base.appendingPathComponent("\(prefix)_embeddings.npy"))
        }
        let encoder = try Encoder.load(contentsOf: Fixtures.url("\(prefix)_model.safetensors"))
        let input = try NPY.read(Fixtures.url("\(prefix)_input.npy"))
        let expected = try NPY.read(Fixtures.url("\(prefix)_embeddings.npy"))
        let segs = (0..<input.shape[0]).map { i in
            Matrix(rows: input.shape[1], columns: input.shape[2],
                   storage: Array(input.values[(i * input.shape[1] * input.shape[2])..<((i + 1) * input.shape[1] * input.shape[2])]))
        }
        #expect(Approx.maxAbsDifference(encoder.embed(segments: segs).flatMap(\.values), expected.values) < 1e-6)
    }
}

@Suite struct BandStatisticsTests {
    @Test func meanAndStdPerBand() {
        let a = Matrix(rowArrays: [[1, 10], [3, 10]])
        let b = Matrix(rowArrays: [[5, 10]])
        let (mean, std) = EncoderConfiguration.bandStatistics(of: [a, b])
        #expect(Approx.maxAbsDifference(mean, [3, 10]) < 1e-6)
        #expect(Approx.maxAbsDifference(std, [Float((8.0 / 3).squareRoot()), 1e-3]) < 1e-6)
        // With a level range: the statistics of the level-normalised windows, by the definition.
        var rng = SeededGenerator(seed: 12)
        let tracks = [rng.matrix(rows: 9, columns: 3, in: -90...10), rng.matrix(rows: 4, columns: 3, in: -30...0)]
        let windows = tracks.flatMap { t in
            stride(from: 0, to: t.rows, by: 4).map { LevelNormalisation.apply(t.rows($0..<min(t.rows, $0 + 4)), range: 50) }
        }
        let expected = EncoderConfiguration.bandStatistics(of: windows)
        let leveled = EncoderConfiguration.bandStatistics(of: tracks, levelRange: 50, windowFrames: 4)
        #expect(Approx.maxAbsDifference(leveled.mean, expected.mean) < 1e-5)
        #expect(Approx.maxAbsDifference(leveled.std, expected.std) < 1e-5)
    }
}

@Suite struct ConcurrencyTests {
    /// Concurrent callers get their own workspaces and the same answers as a sequential caller.
    @Test func concurrentEmbedsMatchSequential() async {
        let encoder = Encoder(configuration: ModelFileTests.smallConfiguration(pooling: .attention), seed: 4)
        var rng = SeededGenerator(seed: 6)
        let batches = (0..<8).map { i in (0..<3).map { _ in rng.matrix(rows: 6 + i % 3, columns: 8, in: -50 ... -20) } }
        let sequential = batches.map { encoder.embed(segments: $0) }
        let concurrent = await withTaskGroup(of: (Int, [Embedding]).self) { group in
            for (i, b) in batches.enumerated() { group.addTask { (i, encoder.embed(segments: b)) } }
            var out = [[Embedding]](repeating: [], count: batches.count)
            for await (i, e) in group { out[i] = e }
            return out
        }
        #expect(concurrent == sequential)
    }
}

/// The convolutional front end's fused forward kernels (first and second stage), each instruction-set path,
/// against the definition computed directly in Double (zero 'same' padding, max-pooling with the first maximum
/// on ties, bias, ReLU).
@Suite struct FrontEndKernelTests {
    /// (steps, batch, mels, channels, kernel bands, kernel frames, pool): the shipped shape, pools below, at and
    /// above the kernel's block of 8 residues and not a multiple of it, kernels wider than the segment, Q > 16.
    static let shapes: [(Int, Int, Int, Int, Int, Int, Int)] = [
        (7, 2, 128, 16, 7, 3, 8), (5, 3, 40, 3, 3, 3, 1), (4, 3, 48, 2, 5, 1, 16), (9, 1, 30, 5, 1, 5, 3),
        (2, 2, 24, 1, 7, 7, 24), (6, 2, 160, 4, 7, 3, 10), (3, 1, 64, 2, 4, 2, 2),
    ]

    /// (steps, batch, first-stage bands, C₁, C₂, kernel bands, kernel frames, pool): the shape under study (16
    /// bands → one vector), channel counts not a multiple of the kernel's block of 8, bands over 16 and not a
    /// multiple of it, even kernels (uneven padding), kernels wider than the segment, a pool of the whole width.
    static let secondShapes: [(Int, Int, Int, Int, Int, Int, Int, Int)] = [
        (7, 2, 16, 16, 32, 3, 3, 2), (5, 3, 20, 3, 5, 3, 2, 4), (4, 2, 40, 2, 3, 4, 1, 5), (3, 1, 8, 1, 1, 1, 5, 8),
        (6, 2, 33, 4, 7, 5, 3, 3), (2, 3, 17, 2, 2, 2, 4, 1),
    ]

    @Test(arguments: FrontEndKernels.Kernel.allCases)
    func matchesTheDefinition(kernel: FrontEndKernels.Kernel) {
        var rng = SeededGenerator(seed: 31)
        for (t, b, m, c, kf, kt, p) in Self.shapes {
            let f = ConvolutionalFrontEnd(channels: c, kernelBands: kf, kernelFrames: kt, pool: p)
            let x = (0..<(t * b * m)).map { _ in Float.random(in: -1...1, using: &rng) }
            let w = (0..<(c * kf * kt)).map { _ in Float.random(in: -1...1, using: &rng) }
            let bias = (0..<c).map { _ in Float.random(in: -0.5...0.5, using: &rng) }
            var out = [Float](repeating: .nan, count: t * b * c * (m / p))
            var choice = out
            var scratch = [Float](repeating: 0, count: FrontEndKernels.scratchCount(f, mels: m, steps: t))
            FrontEndKernels.forward(
                x, steps: t, batch: b, mels: m, f, weight: w, bias: bias, scratch: &scratch, output: &out,
                choice: &choice, kernel: kernel)
            let (worst, wrongChoices) = Self.compare(
                out, choice, input: x, steps: t, batch: b, bands: m, inChannels: 1, outChannels: c, kernelBands: kf,
                kernelFrames: kt, pool: p, weight: w, bias: bias)
            #expect(worst < 1e-5, "shape \((t, b, m, c, kf, kt, p)), \(kernel)")
            #expect(wrongChoices == 0, "shape \((t, b, m, c, kf, kt, p)), \(kernel)")
        }
    }

    /// The second stage's fused kernel on each instruction-set path, against the same definition with C₁ channels.
    @Test(arguments: FrontEndKernels.Kernel.allCases)
    func secondStageMatchesTheDefinition(kernel: FrontEndKernels.Kernel) {
        var rng = SeededGenerator(seed: 32)
        for (t, b, q1, c1, c2, kf, kt, p) in Self.secondShapes {
            let s = ConvolutionalStage(channels: c2, kernelBands: kf, kernelFrames: kt, pool: p)
            let f = ConvolutionalFrontEnd(channels: c1, kernelBands: 1, kernelFrames: 1, pool: 1, second: s)
            let h = (0..<(t * b * c1 * q1)).map { _ in Float.random(in: 0...1, using: &rng) }
            let w = (0..<(c2 * c1 * kf * kt)).map { _ in Float.random(in: -1...1, using: &rng) }
            let bias = (0..<c2).map { _ in Float.random(in: -0.5...0.5, using: &rng) }
            var out = [Float](repeating: .nan, count: t * b * c2 * (q1 / p))
            var choice = out
            var scratch = [Float](repeating: .nan, count: FrontEndKernels.secondScratchCount(f, s, mels: q1, steps: t))
            FrontEndKernels.secondForward(
                h, steps: t, batch: b, mels: q1, f, s, weight: w, bias: bias, scratch: &scratch, output: &out,
                choice: &choice, kernel: kernel)
            let (worst, wrongChoices) = Self.compare(
                out, choice, input: h, steps: t, batch: b, bands: q1, inChannels: c1, outChannels: c2, kernelBands: kf,
                kernelFrames: kt, pool: p, weight: w, bias: bias)
            #expect(worst < 1e-4, "shape \((t, b, q1, c1, c2, kf, kt, p)), \(kernel): \(worst)")
            #expect(wrongChoices == 0, "shape \((t, b, q1, c1, c2, kf, kt, p)), \(kernel)")
        }
    }

    /// The largest difference between `out` and the definition, and the count of maxima whose recorded position
    /// (`choice`) is wrong where the ReLU passes the gradient: input `[steps][B][Cin · bands]`, weight
    /// `[Cout][Cin][F][T]`, output `[steps][B][Cout · bands/pool]`.
    static func compare(
        _ out: [Float], _ choice: [Float], input x: [Float], steps t: Int, batch b: Int, bands m: Int,
        inChannels c1: Int, outChannels c2: Int, kernelBands kf: Int, kernelFrames kt: Int, pool p: Int,
        weight w: [Float], bias: [Float]
    ) -> (worst: Double, wrongChoices: Int) {
        let q = m / p
        var worst = 0.0, wrongChoices = 0
        for ti in 0..<t {
            for bi in 0..<b {
                for ci in 0..<c2 {
                    for qi in 0..<q {
                        var best = -Double.infinity, at = 0
                        for r in 0..<p {
                            var a = 0.0
                            for i in 0..<c1 {
                                for fi in 0..<kf {
                                    for k in 0..<kt {
                                        let frame = ti + k - (kt - 1) / 2, band = qi * p + r + fi - (kf - 1) / 2
                                        guard (0..<t).contains(frame) && (0..<m).contains(band) else { continue }
                                        a += Double(w[((ci * c1 + i) * kf + fi) * kt + k])
                                            * Double(x[(frame * b + bi) * c1 * m + i * m + band])
                                    }
                                }
                            }
                            if a > best { (best, at) = (a, r) }
                        }
                        let o = ((ti * b + bi) * c2 + ci) * q + qi
                        let expected = max(best + Double(bias[ci]), 0)
                        worst = max(worst, abs(Double(out[o]) - expected))
                        // A position only matters where the ReLU passes the gradient.
                        if expected > 1e-5 && Int(choice[o]) != at { wrongChoices += 1 }
                    }
                }
            }
        }
        return (worst, wrongChoices)
    }
}
