public import RetrieveCore

/// An incremental log-mel computer: feed blocks of samples, receive the frames that became complete.
///
/// Frames are exactly those `FeatureExtractor.logMel` would give on the concatenation of every block with
/// `topDecibels == nil`: `power_to_db`'s top-dB clamp needs the maximum over the whole signal, so it cannot be
/// applied while streaming. Callers that want it keep the running maximum and clamp afterwards
/// (`FeatureExtractor.applyTopDecibels`). Memory stays bounded by one block plus one frame, whatever the
/// signal's length, which is what an 8-hour file needs.
///
/// Not thread-safe: one instance per stream.
public final class StreamingLogMel {
    public let extractor: FeatureExtractor
    private let processor: FrameProcessor
    private let fftSize: Int, hop: Int, half: Int
    /// Padded-signal samples from absolute padded index `bufferStart` on.
    private var buffer: [Float] = []
    private var bufferStart = 0
    private var nextFrame = 0
    /// Real samples received so far.
    public private(set) var sampleCount = 0
    /// `.reflect` only: the first samples, held until there are enough to mirror the left edge.
    private var head: [Float] = []
    private var started = false
    private var finished = false

    public init(extractor: FeatureExtractor) {
        self.extractor = extractor
        processor = FrameProcessor(extractor)
        fftSize = extractor.configuration.fftSize
        hop = extractor.configuration.hopLength
        half = fftSize / 2
    }

    /// Frames emitted so far.
    public var frameCount: Int { nextFrame }

    /// Adds `block` and returns the log-mel frames (`k × melBands`, possibly `k = 0`) it completed.
    public func push(_ block: UnsafeBufferPointer<Float>) -> Matrix {
        precondition(!finished, "StreamingLogMel.push after finish()")
        sampleCount += block.count
        if started {
            buffer.append(contentsOf: block)
        } else if extractor.padMode == .constant {
            buffer = [Float](repeating: 0, count: half)
            buffer.append(contentsOf: block)
            started = true
        } else {
            head.append(contentsOf: block)
            if head.count > half {
                buffer = (0..<half).map { head[half - $0] }
                buffer.append(contentsOf: head)
                head = []
                started = true
            }
        }
        return drain()
    }

    /// Convenience for arrays.
    public func push(_ block: [Float]) -> Matrix {
        block.withUnsafeBufferPointer { push($0) }
    }

    /// Pads the right edge and returns the remaining frames. The total number of frames is then
    /// `1 + sampleCount / hopLength` (0 when nothing was pushed).
    public func finish() -> Matrix {
        precondition(!finished, "StreamingLogMel.finish called twice")
        finished = true
        let bands = extractor.configuration.melBands
        if sampleCount == 0 { return Matrix(rows: 0, columns: bands) }
        if !started {
            // A reflect-padded signal no longer than half a window: pad it whole, as numpy does.
            buffer = FeatureExtractor.pad(head, by: half, mode: .reflect)
            bufferStart = 0
            started = true
            return drain()
        }
        if extractor.padMode == .constant {
            buffer.append(contentsOf: repeatElement(0, count: half))
        } else {
            let n = buffer.count
            buffer.append(contentsOf: (0..<half).map { buffer[n - 2 - $0] })
        }
        let out = drain()
        assert(nextFrame == extractor.frameCount(forSampleCount: sampleCount))
        return out
    }

    private func drain() -> Matrix {
        let bands = extractor.configuration.melBands
        var available = 0
        while (nextFrame + available) * hop + fftSize <= bufferStart + buffer.count { available += 1 }
        var out = Matrix(rows: available, columns: bands)
        if available > 0 {
            buffer.withUnsafeBufferPointer { x in
                out.storage.withUnsafeMutableBufferPointer { y in
                    for i in 0..<available {
                        let offset = (nextFrame + i) * hop - bufferStart
                        processor.mel(x.baseAddress! + offset, y.baseAddress! + i * bands, decibels: true)
                    }
                }
            }
            nextFrame += available
        }
        // Drop consumed samples, keeping `half + 1` for a reflected right edge; amortised O(1) per sample.
        let drop = min(nextFrame * hop - bufferStart, buffer.count - (half + 1))
        if drop > 0, drop >= buffer.count / 2 {
            buffer.removeFirst(drop)
            bufferStart += drop
        }
        return out
    }
}

extension FeatureExtractor {
    /// The log-mel spectrogram of a signal that arrives in blocks, with `configuration.topDecibels` applied at
    /// the end: the same matrix `logMel` gives on the whole signal, without ever holding the signal.
    ///
    /// `source` is called once and hands each block to the sink it receives, e.g.
    /// `extractor.logMel { sink in try decoder.stream(url) { sink($0) } }`. Memory is the output matrix plus
    /// one block: about 80 MB per hour of audio at the default settings (155 000 frames × 128 floats).
    public func logMel(
        streamingFrom source: ((UnsafeBufferPointer<Float>) -> Void) throws -> Void
    ) rethrows -> Matrix {
        let streaming = StreamingLogMel(extractor: self)
        let bands = configuration.melBands
        // Rows are gathered in one flat array (amortised O(1) per value) and wrapped at the end.
        var values: [Float] = []
        try source { block in
            values.append(contentsOf: streaming.push(block).storage)
        }
        values.append(contentsOf: streaming.finish().storage)
        var out = Matrix(rows: values.count / bands, columns: bands, storage: values)
        // Drop the second reference, or the top-dB clamp would copy the whole matrix (copy on write).
        values = []
        if let top = configuration.topDecibels { Self.applyTopDecibels(&out, top) }
        return out
    }
}

extension Matrix {
    /// Appends the rows of `other` (same number of columns).
    mutating func append(_ other: Matrix) {
        precondition(
            other.columns == columns, "Cannot append \(other.columns)-column rows to a \(columns)-column matrix")
        guard other.rows > 0 else { return }
        for r in 0..<other.rows { appendRow(other.storage[(r * columns)..<((r + 1) * columns)]) }
    }
}
