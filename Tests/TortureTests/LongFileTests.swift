import Foundation
import RetrieveCore
import Testing
import TestSupport

/// A very long silent file is streamed: indexing it takes no more memory than indexing a short one.
@Suite(.serialized) struct LongFileTests {
    @Test func longSilentFileIsIndexedInBoundedMemory() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-torture-long")
        let model = folder.path("model.safetensors")
        // A model analysing at 2 kHz with a 2048-sample hop (about one frame a second), and files at 2 kHz, so a
        // debug build gets through an hour in a few seconds of CPU. Default: one hour; long mode: ten hours.
        // Whole-file decoding would hold at least 4 bytes × 2 000 × seconds of samples: 28.8 MB for an hour,
        // 288 MB for ten; streaming holds one block.
        try Torture.makeModel(at: model, seed: 13, features: FeatureConfiguration(
            sampleRate: 2_000, fftSize: 2_048, hopLength: 2_048, melBands: 128, topDecibels: nil))
        let seconds: Double = TortureMode.isLong ? 36_000 : 3_600
        var peaks: [String: Int] = [:]
        for (name, length) in [("short", 10.0), ("long", seconds)] {
            let music = folder.path(name)
            try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
            let file = music.appendingPathComponent("silence.wav")
            try Torture.sparseSilentWAV(at: file, seconds: length, sampleRate: 2_000)
            let db = folder.path("\(name).sqlite").path
            let run = try runRetrieve(["index", music.path, "--db", db, "--model", model.path, "--json", "-q",
                                       "--jobs", "1"], in: folder.url)
            #expect(run.exit.status == 0, "\(name): \(run.exit)\n\(run.stderr)")
            let snapshot = try IndexSnapshot.read(db)
            #expect(snapshot.tracks.count == 1)
            let summary = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            let audio = summary?["audioSeconds"] as? Double ?? 0
            #expect(abs(audio - length) < 1, "\(name): \(audio) s of audio analysed")
            if let vector = snapshot.tracks.values.first?.vectors.values.first {
                #expect(vector.floats.allSatisfy { $0.isFinite })
            }
            peaks[name] = run.exit.maxRSSKiB
        }
        let growth = (peaks["long"] ?? 0) - (peaks["short"] ?? 0)
        print("peak memory: short file \(peaks["short"] ?? 0) KiB, \(Int(seconds)) s file \(peaks["long"] ?? 0) KiB")
        #expect(growth < 12 * 1024, "indexing \(Int(seconds)) s took \(growth) KiB more than 10 s: not streamed")
    }
}
