internal import CSndFile
import Foundation

/// An open libsndfile handle; closed on deinit. Used by one thread at a time.
final class SoundFile {
    private let handle: OpaquePointer
    let info: AudioFileInfo
    let path: String

    /// Held around every `sf_open` (reading here, writing in `AudioFileWriter`): each open first clears
    /// libsndfile's process-wide error, so an unlocked open elsewhere could blank a failure's reason.
    static let openLock = NSLock()

    init(reading path: String) throws(AudioDecodingError) {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .fileNotFound(path: path)
        }
        if isDirectory.boolValue { throw .notAudio(path: path, reason: "it is a directory") }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
        if size == 0 { throw .emptyFile(path: path) }
        var sfInfo = SF_INFO()
        // libsndfile's last-error string for a failed open is process-wide: opening under a lock, and reading
        // the string before releasing it, keeps another thread's failure from being reported for this file.
        let (opened, openError) = Self.openLock.withLock {
            let handle = sf_open(path, Int32(SFM_READ), &sfInfo)
            return (handle, handle == nil ? String(cString: sf_strerror(nil)) : "")
        }
        guard let handle = opened else {
            // When its MP3 probe gives up, libsndfile blames the file's existence, which we have just checked,
            // so say what actually happened.
            let message = openError
            if message.lowercased().contains("channel count is zero") { throw .noChannels(path: path) }
            throw .notAudio(path: path, reason: message.contains("does not exist") ? "format not recognised" : message)
        }
        self.handle = handle
        guard sfInfo.channels > 0 else {
            sf_close(handle)
            throw .noChannels(path: path)
        }
        func tag(_ kind: Int) -> String? {
            guard let p = sf_get_string(handle, Int32(kind)) else { return nil }
            let s = String(cString: p).trimmingCharacters(in: .whitespacesAndNewlines)
            return s.isEmpty ? nil : s
        }
        isSixteenBit = Int(sfInfo.format) & Int(SF_FORMAT_SUBMASK) == Int(SF_FORMAT_PCM_16)
        let rate = Int(sfInfo.samplerate)
        info = AudioFileInfo(
            path: path, format: Self.formatName(sfInfo.format, handle: handle), sampleRate: rate,
            channels: Int(sfInfo.channels), frames: max(0, sfInfo.frames),
            duration: rate > 0 ? Double(max(0, sfInfo.frames)) / Double(rate) : 0,
            title: tag(Int(SF_STR_TITLE)), artist: tag(Int(SF_STR_ARTIST)), album: tag(Int(SF_STR_ALBUM)),
            genre: tag(Int(SF_STR_GENRE)))
    }

    deinit { sf_close(handle) }

    /// Whether the samples are stored as 16-bit integers (PCM WAV/AIFF/FLAC), so reading shorts loses nothing.
    let isSixteenBit: Bool

    /// Reads up to `count` interleaved 16-bit frames; returns how many were read (0 at the end).
    func readFrames(into buffer: UnsafeMutablePointer<Int16>, count: Int) -> Int {
        Int(sf_readf_short(handle, buffer, sf_count_t(count)))
    }

    /// Reads up to `count` interleaved frames; returns how many were read (0 at the end).
    func readFrames(into buffer: UnsafeMutablePointer<Float>, count: Int) -> Int {
        Int(sf_readf_float(handle, buffer, sf_count_t(count)))
    }

    var hasError: Bool { sf_error(handle) != SF_ERR_NO_ERROR }
    var errorMessage: String { String(cString: sf_strerror(handle)) }

    static func formatName(_ format: Int32, handle: OpaquePointer) -> String {
        let major = Int(format) & Int(SF_FORMAT_TYPEMASK), sub = Int(format) & Int(SF_FORMAT_SUBMASK)
        switch major {
        case Int(SF_FORMAT_WAV), Int(SF_FORMAT_WAVEX), Int(SF_FORMAT_RF64): return "WAV"
        case Int(SF_FORMAT_AIFF): return "AIFF"
        case Int(SF_FORMAT_FLAC): return "FLAC"
        case Int(SF_FORMAT_MPEG): return "MP3"
        case Int(SF_FORMAT_OGG):
            if sub == Int(SF_FORMAT_OPUS) { return "Opus" }
            if sub == Int(SF_FORMAT_VORBIS) { return "OGG/Vorbis" }
            return "OGG"
        default:
            var fi = SF_FORMAT_INFO()
            fi.format = Int32(major)
            if sf_command(handle, Int32(SFC_GET_FORMAT_INFO), &fi, Int32(MemoryLayout<SF_FORMAT_INFO>.size)) == 0,
                let name = fi.name
            {
                return String(cString: name)
            }
            return String(format: "format 0x%06x", major)
        }
    }
}
