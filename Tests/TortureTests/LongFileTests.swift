import Foundation
import Testing
import TestSupport

/// A very long silent file is streamed: indexing it takes no more memory than indexing a short one.
@Suite(.serialized) struct LongFileTests {
    @Test func longSilentFileIsIndexedInBoundedMemory() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-torture-long")
        let model = folder.path("model.safetensors")
        try Torture.makeModel(at: model, seed: 13)
        // Default: one hour at 8 kHz (resampled to 22.05 kHz, so the whole decode → resample → STFT path runs);
        // long mode: ten hours. Whole-file decoding would hold 4 bytes × 22 050 × seconds of samples: 318 MB
        // for an hour, 3.2 GB for ten.
        let seconds: Double = TortureMode.isLong ? 36_000 : 3_600
        var peaks: [String: Int] = [:]
        for (name, length) in [("short", 10.0), ("long", seconds)] {
            let music = folder.path(name)
            try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
            let file = music.appendingPathComponent("silence.wav")
            try Torture.sparseSilentWAV(at: file, seconds: length, sampleRate: 8_000)
            let db = folder.path("\(name).sqlite").path
            let run = try runRetrieve(["index", music.path, "--db", db, "--model", model.path, "--json", "-q",
                                       "--jobs", "1"], in: folder.url)
            #expect(run.exit.status == 0, "\(name): \(run.exit)\n\(run.stderr)")
            let snapshot = try IndexSnapshot.read(db)
            #expect(snapshot.tracks.count == 1)
            let summary = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            let audio = summary?["audio_seconds"] as? Double ?? 0
            #expect(abs(audio - length) < 1, "\(name): \(audio) s of audio analysed")
            if let vector = snapshot.tracks.values.first?.vectors.values.first {
                #expect(vector.floats.allSatisfy { $0.isFinite })
            }
            peaks[name] = run.exit.maxRSSKiB
        }
        let growth = (peaks["long"] ?? 0) - (peaks["short"] ?? 0)
        print("peak memory: short file \(peaks["short"] ?? 0) KiB, \(Int(seconds)) s file \(peaks["long"] ?? 0) KiB")
        #expect(growth < 48 * 1024, "indexing \(Int(seconds)) s took \(growth) KiB more than 10 s: not streamed")
    }
}
