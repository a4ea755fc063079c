internal import CSoxr

/// A libsoxr mono Float32 stream resampler at `SOXR_HQ` (what `soxr.resample(quality='soxr_hq')` uses).
final class Resampler {
    private let handle: soxr_t
    private let ratio: Double
    private let path: String
    private var output: [Float] = []

    init(from inputRate: Int, to outputRate: Int, path: String) throws(AudioDecodingError) {
        self.path = path
        ratio = Double(outputRate) / Double(inputRate)
        var error: soxr_error_t? = nil
        var io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        var quality = soxr_quality_spec(UInt(SOXR_HQ), 0)
        guard let h = soxr_create(Double(inputRate), Double(outputRate), 1, &error, &io, &quality, nil), error == nil
        else {
            throw .resamplerFailed(path: path, reason: error.map { String(cString: $0) } ?? "soxr_create failed")
        }
        handle = h
    }

    deinit { soxr_delete(handle) }

    /// Feeds `input`, calling `body` with whatever output became available.
    func process(_ input: UnsafeBufferPointer<Float>, _ body: (UnsafeBufferPointer<Float>) -> Void)
        throws(AudioDecodingError)
    {
        var offset = 0
        let capacity = Int((Double(input.count) * ratio).rounded(.up)) + 1024
        if output.count < capacity { output = [Float](repeating: 0, count: capacity) }
        while offset < input.count {
            var consumed = 0, produced = 0
            let error = output.withUnsafeMutableBufferPointer { out in
                soxr_process(handle, input.baseAddress! + offset, input.count - offset, &consumed,
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
