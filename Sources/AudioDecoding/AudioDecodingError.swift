/// Why a file could not be decoded (or written): which file, what went wrong, and what to do about it.
///
/// Bad input is normal in a music collection, so every failure is a value the indexer can record beside the
/// file and move past; `description` is one line suitable for a log or a "failed files" report.
public enum AudioDecodingError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Nothing exists at the path.
    case fileNotFound(path: String)
    /// The file has zero bytes.
    case emptyFile(path: String)
    /// libsndfile does not recognise the bytes as audio (or the header is cut short); `reason` is its message.
    case notAudio(path: String, reason: String)
    /// The header declares no channels.
    case noChannels(path: String)
    /// The sample rate is outside what the decoder resamples (`AudioDecoder.supportedSampleRates`).
    case unsupportedSampleRate(path: String, sampleRate: Int)
    /// Decoding stopped with an error part-way (a corrupt or truncated compressed stream).
    case readFailed(path: String, atSecond: Double, reason: String)
    /// A sample is NaN, infinite or absurdly large (|x| > 10⁶), which only float files can contain.
    case invalidSamples(path: String, atSecond: Double)
    /// libsoxr refused the conversion.
    case resamplerFailed(path: String, reason: String)
    /// A file could not be created or written by `AudioFileWriter`.
    case cannotWrite(path: String, reason: String)

    /// The file the error is about.
    public var path: String {
        switch self {
        case .fileNotFound(let p), .emptyFile(let p), .notAudio(let p, _), .noChannels(let p),
            .unsupportedSampleRate(let p, _), .readFailed(let p, _, _), .invalidSamples(let p, _),
            .resamplerFailed(let p, _), .cannotWrite(let p, _):
            return p
        }
    }

    public var description: String {
        switch self {
        case .fileNotFound(let p):
            return "\(p): no such file; check the path"
        case .emptyFile(let p):
            return "\(p): the file is empty (0 bytes); re-copy or re-rip it"
        case .notAudio(let p, let reason):
            return "\(p): not a readable audio file (\(reason)); convert it to WAV, FLAC, OGG, Opus or MP3"
        case .noChannels(let p):
            return "\(p): the header declares 0 channels; the file is damaged, re-encode it from its source"
        case .unsupportedSampleRate(let p, let rate):
            return "\(p): sample rate \(rate) Hz is outside the supported "
                + "\(AudioDecoder.supportedSampleRates.lowerBound)–\(AudioDecoder.supportedSampleRates.upperBound) Hz; "
                + "resample it with sox first"
        case .readFailed(let p, let t, let reason):
            return "\(p): decoding failed after \(formatSeconds(t)) (\(reason)); the file is truncated or corrupt, "
                + "re-encode it from its source"
        case .invalidSamples(let p, let t):
            return "\(p): NaN, infinite or absurdly large sample at \(formatSeconds(t)); the float data is corrupt, "
                + "re-export the file"
        case .resamplerFailed(let p, let reason):
            return "\(p): resampling failed (\(reason)); convert the file to 44.1 kHz with sox and retry"
        case .cannotWrite(let p, let reason):
            return "\(p): cannot write audio (\(reason)); check the directory exists and is writable"
        }
    }
}

func formatSeconds(_ t: Double) -> String {
    let s = (t * 1000).rounded() / 1000
    return "\(s) s"
}
