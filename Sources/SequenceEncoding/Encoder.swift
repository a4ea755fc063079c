public import Foundation
public import RetrieveCore

/// An LSTM encoder that turns log-mel segments into unit-length embeddings; inference and model files.
///
/// Parameters live in one flat float vector laid out by `ParameterLayout` (PyTorch names, shapes and
/// order), so the optimiser can treat them as one array. Inference calls may run concurrently: each takes a
/// preallocated workspace from a small pool (reused across calls), and the parameters are only read.
/// Training (in `EncoderTraining`) mutates the parameters and must not overlap with inference on the
/// same encoder.
public final class Encoder: @unchecked Sendable {
    /// The model's configuration.
    public let configuration: EncoderConfiguration
    /// Where each parameter tensor lives in `parameters`.
    public let layout: ParameterLayout
    /// All parameters, `layout.count` floats.
    package let parameters: FloatBuffer
    private let lock = NSLock()
    /// Idle inference workspaces; a call takes one (or makes one) and returns it, so concurrent callers
    /// never share buffers and a sequential caller reuses the same one.
    private var workspaces: [ForwardCache] = []
    private var storedVersion: ModelVersion?
    /// Bumped whenever the parameters change, so stale packed weights are never used.
    private var parameterGeneration = 0
    private var packed: PackedLSTMWeights?
    private var kernelPath = LSTMKernelPath.best
    /// Segments per inference batch: large enough for efficient GEMMs, small enough for cache-resident steps.
    ///
    /// Threading: the encoder never changes OpenBLAS's thread count; it reads it. The fused inference kernel
    /// (`LSTMKernelPath`) splits a batch's rows over `BLAS.threadCount` threads, each running the whole
    /// recurrence for its rows with no per-step synchronisation (OpenBLAS's own threads would split each
    /// step's 17 MFLOP product and need a barrier per step; measured, a second OpenBLAS thread gained
    /// nothing). So one setting governs both paths and the caller decides: indexing with several workers
    /// keeps OpenBLAS at 1 thread and calls `embed` from several tasks at once (each call has its own
    /// workspace; whole batches are independent); a lone caller leaves it at the core count.
    public var inferenceBatchSize = 64

    /// A randomly initialised encoder, like PyTorch's defaults: LSTM parameters uniform in ±1/√H, linear
    /// layers' and the convolutions' weights and biases uniform in ±1/√fan_in (the first convolution's fan-in is
    /// F · T, the second's C₁ · F₂ · T₂).
    public init(configuration: EncoderConfiguration, seed: UInt64) {
        if let problem = configuration.problem { preconditionFailure("Invalid encoder configuration: \(problem)") }
        self.configuration = configuration
        self.layout = ParameterLayout(configuration)
        self.parameters = FloatBuffer(count: layout.count)
        var rng = SplitMix64(seed: seed)
        for spec in layout.specs {
            let fanIn: Int
            if spec.name.hasPrefix("lstm.") {
                fanIn = configuration.hiddenSize
            } else if spec.name.hasPrefix("frontend.conv.") {
                fanIn = configuration.frontEnd!.kernelSize
            } else if spec.name.hasPrefix("frontend.conv2.") {
                let f = configuration.frontEnd!, s = f.second!
                fanIn = f.channels * s.kernelBands * s.kernelFrames
            } else if spec.name == "attention.vector" {
                fanIn = configuration.attentionSize
            } else if spec.name.hasSuffix(".bias") {
                fanIn = layout[spec.name.replacingOccurrences(of: ".bias", with: ".weight")]!.shape[1]
            } else {
                fanIn = spec.shape[1]
            }
            let bound = 1 / Float(fanIn).squareRoot()
            for i in 0..<spec.count {
                parameters.pointer[spec.offset + i] = Float.random(in: -bound...bound, using: &rng)
            }
        }
    }

    private init(
        configuration: EncoderConfiguration, values: [String: [Float]], version: ModelVersion,
        timbreReference: TimbreReferenceTensors?
    ) {
        self.configuration = configuration
        self.storedTimbreReference = timbreReference
        self.layout = ParameterLayout(configuration)
        self.parameters = FloatBuffer(count: layout.count)
        for spec in layout.specs {
            (parameters.pointer + spec.offset).update(from: values[spec.name]!, count: spec.count)
        }
        self.storedVersion = version
    }

    /// Which model this is: the name it was saved or loaded under and the SHA-256 of its file bytes.
    /// An encoder never saved reports the digest of what `save(to:name: "unsaved")` would write now.
    public var version: ModelVersion {
        if let v = lock.withLock({ storedVersion }) { return v }
        // Outside the lock: serialising reads the timbre reference under it.
        return ModelVersion(
            name: "unsaved", digest: SHA256.hexDigest(serialized(name: "unsaved")),
            dimensions: configuration.embeddingSize)
    }

    /// The rows of the timbre reference set stored with the model (`timbre.reference.full`, `timbre.reference.low`,
    /// each `count × TimbreGaussian.packedCount`: one reference track's packed Gaussian per row; see
    /// `SimilaritySearch.TimbreReference`), or nil for a model without one. The encoder only carries them: they
    /// are part of the model file, so its digest — the version of every vector made with it — covers them.
    public struct TimbreReferenceTensors: Sendable, Equatable {
        public let full: Matrix
        public let lowBand: Matrix

        public init(full: Matrix, lowBand: Matrix) {
            precondition(
                full.columns == TimbreGaussian.packedCount && lowBand.columns == TimbreGaussian.packedCount,
                "timbre reference rows hold \(TimbreGaussian.packedCount) values")
            self.full = full
            self.lowBand = lowBand
        }

        /// The tensor names in a model file.
        package static let fullName = "timbre.reference.full"
        package static let lowBandName = "timbre.reference.low"
    }

    private var storedTimbreReference: TimbreReferenceTensors?

    /// The timbre reference set stored with the model, if any.
    public var timbreReference: TimbreReferenceTensors? { lock.withLock { storedTimbreReference } }

    /// Stores `reference` with the model (nil removes it); the next save writes it, and the version changes.
    public func setTimbreReference(_ reference: TimbreReferenceTensors?) {
        lock.withLock {
            storedTimbreReference = reference
            storedVersion = nil
        }
    }

    /// Forgets the stored version after the parameters changed (training does this).
    package func parametersChanged() {
        lock.withLock {
            storedVersion = nil
            parameterGeneration += 1
        }
    }

    /// Which implementation runs the forward recurrence; `LSTMKernelPath.best` unless a test forces another.
    package var lstmKernel: LSTMKernelPath {
        get { lock.withLock { kernelPath } }
        set {
            precondition(newValue.isSupported, "This CPU cannot run the \(newValue) LSTM kernel")
            lock.withLock { kernelPath = newValue }
        }
    }

    /// The training forward pass's packed weights: `reusing`'s buffers refilled from the current parameters,
    /// or new ones; nil on the BLAS path.
    package func freshlyPackedWeights(reusing old: PackedLSTMWeights?) -> PackedLSTMWeights? {
        let path = lstmKernel
        if path == .blas { return nil }
        if let old, old.fits(self, path: path) {
            old.pack(self)
            return old
        }
        return PackedLSTMWeights(self, path: path, generation: -1)
    }

    /// The LSTM weights packed for the inference kernel (nil on the BLAS path), packed on first use after each
    /// parameter change (about a millisecond for 1.5 MB of weights) and shared by concurrent callers.
    package func packedWeights() -> PackedLSTMWeights? {
        lock.withLock {
            if kernelPath == .blas { return nil }
            if let p = packed, p.generation == parameterGeneration, p.path == kernelPath { return p }
            let p = PackedLSTMWeights(self, path: kernelPath, generation: parameterGeneration)
            packed = p
            return p
        }
    }

    // MARK: Parameters

    /// A copy of the tensor `name` in PyTorch layout.
    public func parameter(_ name: String) -> [Float] {
        guard let spec = layout[name] else { preconditionFailure("No parameter named \(name)") }
        return Array(UnsafeBufferPointer(start: parameters.pointer + spec.offset, count: spec.count))
    }

    /// Overwrites the tensor `name`; `values` must have its element count.
    public func setParameter(_ name: String, _ values: [Float]) {
        guard let spec = layout[name] else { preconditionFailure("No parameter named \(name)") }
        precondition(values.count == spec.count, "\(name) has \(spec.count) values, got \(values.count)")
        lock.withLock {
            (parameters.pointer + spec.offset).update(from: values, count: spec.count)
            storedVersion = nil
            parameterGeneration += 1
        }
    }

    /// All parameters as one flat vector in layout order.
    public var flatParameters: [Float] { parameters.array(layout.count) }

    // MARK: Files

    /// The metadata key holding the JSON-encoded configuration.
    package static let configurationKey = "configuration"

    /// The model file's bytes (safetensors with the configuration in `__metadata__`).
    public func serialized(
        name: String, extraTensors: [(String, [Int], [Float])] = [],
        extraMetadata: [String: String] = [:]
    ) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // A model without level normalisation stays a version-1 file, which older builds still read; one with it
        // is version 2 and one with a convolutional front end version 3, which older builds refuse rather than
        // embed without them.
        var stored = configuration
        stored.formatVersion = configuration.minimumFormatVersion
        let json = String(decoding: try! encoder.encode(stored), as: UTF8.self)
        var tensors = layout.specs.map { spec in
            (
                spec.name,
                SafeTensorsFile.Tensor(
                    shape: spec.shape,
                    values: Array(UnsafeBufferPointer(start: parameters.pointer + spec.offset, count: spec.count)))
            )
        }
        if let reference = timbreReference {
            for (name, rows) in [
                (TimbreReferenceTensors.fullName, reference.full),
                (TimbreReferenceTensors.lowBandName, reference.lowBand),
            ] {
                tensors.append((name, SafeTensorsFile.Tensor(shape: [rows.rows, rows.columns], values: rows.storage)))
            }
        }
        tensors += extraTensors.map { ($0.0, SafeTensorsFile.Tensor(shape: $0.1, values: $0.2)) }
        var metadata = extraMetadata
        metadata["format"] = "retrieve-encoder"
        metadata["name"] = name
        metadata[Self.configurationKey] = json
        return SafeTensorsFile(tensors: tensors, metadata: metadata).serialized()
    }

    /// Writes the model to `url` atomically and records its new version.
    public func save(to url: URL, name: String) throws {
        let bytes = serialized(name: name)
        try OutputFile.write(Data(bytes), to: url.path)
        lock.withLock {
            storedVersion = ModelVersion(
                name: name, digest: SHA256.hexDigest(bytes), dimensions: configuration.embeddingSize)
        }
    }

    /// Reads and validates a model file: header, configuration, every tensor's name, shape and byte range.
    public static func load(contentsOf url: URL) throws(ModelFileError) -> Encoder {
        let path = url.path
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: url)) } catch {
            throw .unreadable(path: path, reason: readFailureReason(error, path: path))
        }
        let (encoder, _) = try decode(bytes: bytes, path: path)
        return encoder
    }

    /// Builds an encoder from file bytes; also returns the parsed file so checkpoints can read their extra tensors.
    package static func decode(bytes: [UInt8], path: String) throws(ModelFileError) -> (Encoder, SafeTensorsFile) {
        let file = try SafeTensorsFile(bytes: bytes, path: path)
        guard let json = file.metadata[configurationKey] else {
            throw .badMetadata(path: path, reason: "no '\(configurationKey)' entry in __metadata__")
        }
        if let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let version = object["formatVersion"] as? Int,
            !EncoderConfiguration.readableFormatVersions.contains(version)
        {
            throw .unsupportedFormatVersion(
                path: path, found: version, supported: EncoderConfiguration.currentFormatVersion)
        }
        let configuration: EncoderConfiguration
        do { configuration = try JSONDecoder().decode(EncoderConfiguration.self, from: Data(json.utf8)) } catch {
            throw .badMetadata(path: path, reason: "configuration does not decode: \(error)")
        }
        if let problem = configuration.problem { throw .badMetadata(path: path, reason: problem) }
        let layout = ParameterLayout(configuration)
        var values: [String: [Float]] = [:]
        for spec in layout.specs {
            guard let t = file.tensors[spec.name] else { throw .missingTensor(path: path, name: spec.name) }
            guard t.shape == spec.shape else {
                throw .wrongShape(path: path, name: spec.name, expected: spec.shape, found: t.shape)
            }
            guard t.values.allSatisfy(\.isFinite) else {
                throw .badTensor(path: path, name: spec.name, reason: "contains NaN or infinity")
            }
            values[spec.name] = t.values
        }
        let timbre = try timbreReference(in: file, path: path)
        // A training checkpoint also holds the optimiser's moments and training-only state (`trainer.*`).
        for name in file.order
        where layout[name] == nil && !name.hasPrefix("optimizer.") && !name.hasPrefix("trainer.")
            && name != TimbreReferenceTensors.fullName && name != TimbreReferenceTensors.lowBandName
        {
            throw .unexpectedTensor(path: path, name: name)
        }
        let version = ModelVersion(
            name: file.metadata["name"] ?? url(path).deletingPathExtension().lastPathComponent,
            digest: SHA256.hexDigest(bytes), dimensions: configuration.embeddingSize)
        return (
            Encoder(configuration: configuration, values: values, version: version, timbreReference: timbre), file
        )
    }

    /// The timbre reference tensors of `file`: both or neither, each 2-D with `TimbreGaussian.packedCount` columns
    /// and finite values (whether each row is a valid Gaussian is checked where they are used,
    /// `Analysis.TimbreReferenceFile`).
    private static func timbreReference(
        in file: SafeTensorsFile, path: String
    ) throws(ModelFileError)
        -> TimbreReferenceTensors?
    {
        let names = [TimbreReferenceTensors.fullName, TimbreReferenceTensors.lowBandName]
        let found = names.map { file.tensors[$0] }
        if found.allSatisfy({ $0 == nil }) { return nil }
        var matrices: [Matrix] = []
        for (name, tensor) in zip(names, found) {
            guard let tensor else { throw .missingTensor(path: path, name: name) }
            guard tensor.shape.count == 2, tensor.shape[1] == TimbreGaussian.packedCount, tensor.shape[0] > 0 else {
                throw .wrongShape(
                    path: path, name: name, expected: [max(1, tensor.shape.first ?? 1), TimbreGaussian.packedCount],
                    found: tensor.shape)
            }
            guard tensor.values.allSatisfy(\.isFinite) else {
                throw .badTensor(path: path, name: name, reason: "contains NaN or infinity")
            }
            matrices.append(Matrix(rows: tensor.shape[0], columns: tensor.shape[1], storage: tensor.values))
        }
        return TimbreReferenceTensors(full: matrices[0], lowBand: matrices[1])
    }

    private static func url(_ path: String) -> URL { URL(fileURLWithPath: path) }

    // MARK: Inference

    /// Cuts a track's log-mel frames (`frames × inputSize`) into `segmentFrames` windows every
    /// `segmentHopFrames`; the last window ends at the track's end so no frames are dropped. A track
    /// shorter than one segment gives one shorter segment; an empty track gives none.
    public func segments(of logMel: Matrix) -> [Matrix] {
        SegmentCutter.windows(of: logMel, length: configuration.segmentFrames, hop: configuration.segmentHopFrames)
    }

    /// Embeds segments (each `frames × inputSize` raw log-mel, frames ≥ 1), batching equal lengths together.
    public func embed(segments: [Matrix]) -> [Embedding] {
        let e = configuration.embeddingSize
        var result = [Embedding?](repeating: nil, count: segments.count)
        let groups = Dictionary(grouping: segments.indices, by: { segments[$0].rows })
        let workspace = lock.withLock { workspaces.popLast() } ?? ForwardCache()
        defer { lock.withLock { workspaces.append(workspace) } }
        do {
            for (_, indices) in groups.sorted(by: { $0.key < $1.key }) {
                for start in stride(from: 0, to: indices.count, by: inferenceBatchSize) {
                    let chunk = indices[start..<min(start + inferenceBatchSize, indices.count)]
                    forward(
                        ArraySlice(chunk.map { segments[$0] }), cache: workspace, withLogits: false, training: false)
                    for (bi, index) in chunk.enumerated() {
                        let p = workspace.embeddings.pointer + bi * e
                        result[index] = Embedding(unchecked: Array(UnsafeBufferPointer(start: p, count: e)))
                    }
                }
            }
        }
        return result.map { $0! }
    }

    /// A track's embedding: the normalised mean of its segments' embeddings; nil for a track of 0 frames.
    public func embedTrack(logMel: Matrix) -> Embedding? {
        Embedding.pooled(embed(segments: segments(of: logMel)))
    }

    /// The classifier's logits (`embeddings.count × classCount`), `logitScale · (W e + b)`.
    public func logits(for embeddings: [Embedding]) -> Matrix {
        let e = configuration.embeddingSize
        var flat = [Float]()
        flat.reserveCapacity(embeddings.count * e)
        for emb in embeddings {
            precondition(emb.dimensions == e, "Embedding has \(emb.dimensions) dimensions, model makes \(e)")
            flat += emb.values
        }
        var out = Matrix(rows: embeddings.count, columns: configuration.classCount)
        if embeddings.isEmpty { return out }
        flat.withUnsafeBufferPointer { pe in
            out.storage.withUnsafeMutableBufferPointer { po in
                computeLogits(embeddings: pe.baseAddress!, count: embeddings.count, into: po.baseAddress!)
            }
        }
        return out
    }

    /// The most likely class name of each embedding.
    public func classify(_ embeddings: [Embedding]) -> [String] {
        let l = logits(for: embeddings)
        return (0..<l.rows).map { r in
            let row = l.row(r)
            return configuration.classNames[row.indices.max(by: { row[$0] < row[$1] })!]
        }
    }
}
