internal import CSoxr

/// A libsoxr mono Float32 stream resampler at `SOXR_HQ` (what `soxr.resample(quality='soxr_hq')` uses): the one
/// libsoxr wrapper of retrieve, for decoding and for whole signals (`resample(_:from:to:)`).
public final class Resampler {
    private let handle: soxr_t
    private let ratio: Double
    private let path: String
    private var output: [Float] = []

    convenience init(from inputRate: Int, to outputRate: Int, path: String) throws(AudioDecodingError) {
        try self.init(from: Double(inputRate), to: Double(outputRate), path: path)
    }

    /// Rates need not be whole numbers (a varispeed or pitch shift resamples by 2^(s/12)).
    init(from inputRate: Double, to outputRate: Double, path: String) throws(AudioDecodingError) {
        self.path = path
        ratio = outputRate / inputRate
        var error: soxr_error_t? = nil
        var io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        var quality = soxr_quality_spec(UInt(SOXR_HQ), 0)
        guard let h = soxr_create(inputRate, outputRate, 1, &error, &io, &quality, nil), error == nil
        else {
            throw .resamplerFailed(path: path, reason: error.map { String(cString: $0) } ?? "soxr_create failed")
        }
        handle = h
    }

    deinit { soxr_delete(handle) }

    /// Feeds `input`, calling `body` with whatever output became available.
    func process(
        _ input: UnsafeBufferPointer<Float>, _ body: (UnsafeBufferPointer<Float>) -> Void
    )
        throws(AudioDecodingError)
    {
        var offset = 0
        let capacity = Int((Double(input.count) * ratio).rounded(.up)) + 1024
        if output.count < capacity { output = [Float](repeating: 0, count: capacity) }
        while offset < input.count {
            var consumed = 0, produced = 0
            let error = output.withUnsafeMutableBufferPointer { out in
                soxr_process(
                    handle, input.baseAddress! + offset, input.count - offset, &consumed,
                    out.baseAddress!, out.count, &produced)
            }
            if let error { throw .resamplerFailed(path: path, reason: String(cString: error)) }
            offset += consumed
            output.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[0..<produced])) }
            if consumed == 0 && produced == 0 { break }
        }
    }

    /// Drains the resampler's delay line at the end of the input.
    func flush(_ body: (UnsafeBufferPointer<Float>) -> Void) throws(AudioDecodingError) {
        if output.count < 4096 { output = [Float](repeating: 0, count: 4096) }
        while true {
            var produced = 0
            let error = output.withUnsafeMutableBufferPointer { out in
                soxr_process(handle, nil, 0, nil, out.baseAddress!, out.count, &produced)
            }
            if let error { throw .resamplerFailed(path: path, reason: String(cString: error)) }
            if produced == 0 { break }
            output.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[0..<produced])) }
        }
    }
}

extension Resampler {
    /// A whole signal resampled from `inputRate` to `outputRate` Hz at `SOXR_HQ`, as the decoder resamples:
    /// exactly `ceil(count · outputRate / inputRate)` samples (the resampler's tail zero-padded or cut to that).
    public static func resample(
        _ x: [Float], from inputRate: Double, to outputRate: Double
    )
        throws(AudioDecodingError) -> [Float]
    {
        guard !x.isEmpty else { return [] }
        if inputRate == outputRate { return x }
        let count = Int((Double(x.count) * outputRate / inputRate).rounded(.up))
        let resampler = try Resampler(
            from: inputRate, to: outputRate, path: "(\(Int(inputRate)) → \(Int(outputRate)) Hz signal)")
        var y: [Float] = []
        y.reserveCapacity(count + 64)
        try x.withUnsafeBufferPointer { input throws(AudioDecodingError) in
            try resampler.process(input) { y.append(contentsOf: $0) }
        }
        try resampler.flush { y.append(contentsOf: $0) }
        if y.count > count { y.removeLast(y.count - count) }
        return y + [Float](repeating: 0, count: count - y.count)
    }
}
