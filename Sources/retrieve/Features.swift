import ArgumentParser
import AudioDecoding
import Foundation
import RetrieveCore
import SpectralFeatures

/// `retrieve features FILE`: decode one file and show (or save) the front end's output for it.
struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode one audio file and compute its log-mel spectrogram (or MFCCs).",
        discussion: """
            Audio is mixed to mono and resampled to 22050 Hz; features follow librosa 0.11's defaults \
            (n_fft 2048, hop 512, Slaney mel, power_to_db with top_db 80). With --out the matrix is written \
            as a float32 .npy of shape frames × bands.
            """)

    @Argument(help: "An audio file: WAV, AIFF, FLAC, OGG/Vorbis, Opus or MP3.")
    var file: String

    @Option(help: "Number of mel bands.")
    var mels: Int = FeatureConfiguration.standard.melBands

    @Option(help: ArgumentHelp("Output N MFCCs per frame instead of the log-mel.", valueName: "n"))
    var mfcc: Int?

    @Option(help: ArgumentHelp("Write the matrix (frames × bands, float32) to this .npy file.", valueName: "file.npy"))
    var out: String?

    func validate() throws {
        try Check.range("--mels", mels, FeatureConfiguration.Bounds.melBands)
        try Check.range("--mfcc", mfcc, 1...mels)
    }

    func run() throws {
        let configuration = FeatureConfiguration(melBands: mels, mfccCount: mfcc ?? min(20, mels))
        let extractor = try FeatureExtractor(configuration: configuration)
        let decoder = AudioDecoder(targetSampleRate: configuration.sampleRate)
        let url = URL(fileURLWithPath: file)
        var info = try decoder.info(of: url)
        // The decoded length, not the header's claim (which a damaged file can fake).
        let logMel = try extractor.logMel { sink in info = try decoder.stream(url) { sink($0) } }
        let matrix = mfcc == nil ? logMel : extractor.mfcc(fromLogMel: logMel)
        let kind = mfcc == nil ? "log-mel (dB)" : "MFCC"
        let seconds = Double(info.frames) / Double(max(info.sampleRate, 1))
        if let out {
            try NumPyArray(matrix).write(to: URL(fileURLWithPath: out))
            print("wrote \(out): \(matrix.rows) × \(matrix.columns) \(kind), \(format(seconds)) s of audio")
        } else {
            let low = matrix.storage.min() ?? 0, high = matrix.storage.max() ?? 0
            print(file)
            print("  format    \(info.format), \(info.sampleRate) Hz, \(info.channels) channel\(info.channels == 1 ? "" : "s"), \(format(seconds)) s")
            print("  analysis  \(configuration.sampleRate) Hz, \(matrix.rows) frames × \(matrix.columns) \(kind)")
            print("  values    \(format(Double(low))) … \(format(Double(high)))")
        }
    }

    private func format(_ x: Double) -> String { String(format: "%.2f", x) }
}
