import AudioDecoding
import GRDB
import Foundation
import Analysis
import Library
import Training
import Evaluation
import SimilaritySearch
import SequenceEncoding
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `retrieve index` over a collection of every kind of bad file we could think of, next to good ones.
@Suite(.serialized) struct BadFilesTests {
    /// What the collection should give: the files that must be indexed and the ones that must fail.
    struct Expectation {
        var good: Set<String> = []
        var bad: Set<String> = []
        /// Failures found while walking folders (never reach the decoder, so they are not in the failures table).
        var scanProblems: Set<String> = []
        var notes: [String] = []
    }

    /// Writes the collection under `music` and says what each file must give.
    static func makeCollection(_ music: URL, model: URL, seed: UInt64) throws -> Expectation {
        var expect = Expectation()
        var rng = SeededGenerator(seed: seed)
        let fm = FileManager.default
        try fm.createDirectory(at: music, withIntermediateDirectories: true)
        func url(_ name: String) -> URL { music.appendingPathComponent(name) }
        func good(_ name: String) { expect.good.insert(url(name).path) }
        func bad(_ name: String) { expect.bad.insert(url(name).path) }

        // Good files in every format.
        let formats: [AudioFileFormat] = [.wav16, .flac16, .oggVorbis, .mp3, .wavFloat, .aiff16]
        for (i, format) in formats.enumerated() {
            let name = "good\(i).\(format.fileExtension)"
            try AudioFileWriter.write(Torture.tone(i, seconds: 1), sampleRate: 22_050, format: format, to: url(name))
            good(name)
        }
        try AudioFileWriter.write(Torture.tone(7, seconds: 1, sampleRate: 48_000), sampleRate: 48_000, format: .opus,
                                  to: url("good-opus.opus"))
        good("good-opus.opus")
        // Extreme but legal: 8 kHz, 192 kHz, 8 channels, one sample, silence.
        try AudioFileWriter.write(Torture.tone(2, seconds: 1, sampleRate: 8_000), sampleRate: 8_000, format: .wav16,
                                  to: url("rate-8k.wav"))
        good("rate-8k.wav")
        try AudioFileWriter.write(Torture.tone(3, seconds: 0.5, sampleRate: 192_000), sampleRate: 192_000,
                                  format: .wav24, to: url("rate-192k.wav"))
        good("rate-192k.wav")
        let mono = Torture.tone(4, seconds: 0.5)
        var eight = [Float](repeating: 0, count: mono.count * 8)
        for (t, x) in mono.enumerated() { for c in 0..<8 { eight[t * 8 + c] = x * Float(c + 1) / 8 } }
        try AudioFileWriter.write(eight, channels: 8, sampleRate: 22_050, format: .wav16, to: url("eight-channels.wav"))
        good("eight-channels.wav")
        try AudioFileWriter.write([0.25], sampleRate: 22_050, format: .wav16, to: url("one-sample.wav"))
        good("one-sample.wav")
        try AudioFileWriter.write([Float](repeating: 0, count: 22_050 * 3), sampleRate: 22_050, format: .flac16,
                                  to: url("silence.flac"))
        good("silence.flac")
        // A valid header in front of random PCM is noise, which is audio.
        let noise = Torture.randomBytes(22_050 * 2, &rng)
        try Data(Torture.wavHeader(sampleRate: 22_050, channels: 1, bitsPerSample: 16, dataBytes: UInt32(noise.count))
                 + noise).write(to: url("random-pcm.wav"))
        good("random-pcm.wav")
        // A header declaring ~4 GB of data in front of one second: read what is there, allocate nothing huge.
        let second = Torture.tone(5, seconds: 1).map { Int16(($0 * 32_000).rounded()) }
        let secondBytes = second.withUnsafeBytes { Array($0) }
        try Data(Torture.wavHeader(sampleRate: 22_050, channels: 1, bitsPerSample: 16, dataBytes: 0xFFFF_FF00)
                 + secondBytes).write(to: url("huge-declared-size.wav"))
        good("huge-declared-size.wav")

        // Bad files.
        for ext in ["wav", "flac", "ogg", "mp3", "opus"] {
            try Data().write(to: url("empty.\(ext)"))
            bad("empty.\(ext)")
        }
        var riff = Array("RIFF".utf8) + [0x00, 0x10, 0x00, 0x00] + Array("WAVE".utf8)
        riff += Torture.randomBytes(4_096, &rng)
        try Data(riff).write(to: url("riff-then-garbage.wav"))
        bad("riff-then-garbage.wav")
        try Data(Array("fLaC".utf8) + Torture.randomBytes(4_096, &rng)).write(to: url("flac-then-garbage.flac"))
        bad("flac-then-garbage.flac")
        try Data(Array("OggS".utf8) + Torture.randomBytes(4_096, &rng)).write(to: url("oggs-then-garbage.ogg"))
        bad("oggs-then-garbage.ogg")
        try Data("These are my notes, not music.\n".utf8).write(to: url("notes.mp3"))
        bad("notes.mp3")
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Torture.randomBytes(2_000, &rng))
            .write(to: url("picture.flac"))
        bad("picture.flac")
        var poisoned = Torture.tone(6, seconds: 1)
        poisoned[1_000] = .nan
        poisoned[2_000] = .infinity
        poisoned[3_000] = -.infinity
        try AudioFileWriter.write(poisoned, sampleRate: 22_050, format: .wavFloat, to: url("nan-and-inf.wav"))
        bad("nan-and-inf.wav")

        // Truncations at seeded random offsets. A WAV cut inside its header is unreadable; cut inside its data it is
        // a shorter WAV. For compressed formats the decoder itself is the oracle (it must agree with the CLI).
        let oracle = try EncoderAnalyser(encoder: try SequenceEncoding.Encoder.load(contentsOf: model))
        for (i, format) in [AudioFileFormat.wav16, .flac16, .oggVorbis, .mp3].enumerated() {
            let full = url("full\(i).\(format.fileExtension)")
            try AudioFileWriter.write(Torture.tone(i + 8, seconds: 2), sampleRate: 22_050, format: format, to: full)
            let bytes = try Data(contentsOf: full)
            try fm.removeItem(at: full)
            for cut in 0..<3 {
                let offset = cut == 0 ? Int.random(in: 1..<min(200, bytes.count), using: &rng)
                    : Int.random(in: 1..<bytes.count, using: &rng)
                let name = "truncated\(i)-\(cut)-at-\(offset).\(format.fileExtension)"
                try bytes.prefix(offset).write(to: url(name))
                if format == .wav16 {
                    // A cut inside the data chunk needs at least one whole sample to leave audio behind.
                    if offset >= 46 { good(name) } else { bad(name) }
                } else if (try? oracle.analyse(path: url(name).path)) != nil {
                    good(name)
                } else {
                    bad(name)
                }
            }
        }

        // Things the walk meets: a symlink loop, a name that is not UTF-8, a FIFO, an unreadable file.
        try fm.createDirectory(at: url("loop"), withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: url("loop/back").path, withDestinationPath: "..")
        expect.scanProblems.insert(url("loop/back").path)
        try Torture.createFile(rawName: Array("not-utf8-".utf8) + [0xFF, 0xFE] + Array(".wav".utf8), in: music,
                               contents: Array(try Data(contentsOf: url("good0.wav"))))
        expect.scanProblems.insert(music.path + "/not-utf8-\u{FFFD}\u{FFFD}.wav")
        // A FIFO with an audio name would block a decoder forever; it must be reported, never opened.
        guard mkfifo(url("pipe.wav").path, 0o644) == 0 else { throw TortureFailure("mkfifo failed") }
        expect.scanProblems.insert(url("pipe.wav").path)
        // chmod 000 does not stop root, who runs these tests in CI containers.
        try AudioFileWriter.write(Torture.tone(11, seconds: 1), sampleRate: 22_050, format: .wav16,
                                  to: url("unreadable.wav"))
        chmod(url("unreadable.wav").path, 0)
        if geteuid() == 0 {
            good("unreadable.wav")
            expect.notes.append("running as root: chmod 000 does not make a file unreadable; the FIFO stands in")
        } else {
            bad("unreadable.wav")
        }
        return expect
    }

    @Test func indexRecordsEveryBadFileAndIndexesEveryGoodOne() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-torture-bad")
        let music = folder.path("music")
        let model = folder.path("model.safetensors")
        try Torture.makeModel(at: model, seed: 5)
        let expect = try Self.makeCollection(music, model: model, seed: 20_251_125)
        for note in expect.notes { print("note: \(note)") }
        let db = folder.path("index.sqlite").path

        let run = try runRetrieve(["index", music.path, "--db", db, "--model", model.path, "--json", "-q",
                                   "--batch-size", "4", "--jobs", "2"], in: folder.url)
        #expect(run.exit.signal == nil, "retrieve crashed: \(run.exit)\n\(run.stderr)")
        #expect(run.exit.status == 3, "partial failure must exit 3, got \(run.exit)\n\(run.stderr)")
        // libmpg123 prints "Note: Illegal Audio-MPEG-Header …" for damaged MP3s unless told to be quiet
        // (CQuietMPEG); the user must see our one-line reasons only.
        #expect(!run.stderr.contains("Note: "), "decoder chatter on stderr:\n\(run.stderr)")
        let summary = try #require(
            try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "stdout: \(run.stdout)")
        let failures = try #require(summary["failures"] as? [[String: String]])
        let failedPaths = failures.compactMap { $0["path"] }
        #expect(failedPaths.count == Set(failedPaths).count, "a file was reported twice")
        let expectedFailures = expect.bad.union(expect.scanProblems)
        let unexpected = Set(failedPaths).subtracting(expectedFailures).sorted()
        let missing = expectedFailures.subtracting(failedPaths).sorted()
        #expect(Set(failedPaths) == expectedFailures, "unexpected failures: \(unexpected); missing: \(missing)")
        for failure in failures {
            let path = failure["path"] ?? "", reason = failure["reason"] ?? ""
            #expect(!reason.isEmpty && !reason.contains("\n"), "reason of \(path) is not one line: \(reason)")
            // Decoder reasons name the file themselves; scan problems are printed as `path: reason`.
            let file = (path as NSString).lastPathComponent
            #expect(reason.contains(file) || expect.scanProblems.contains(path), "reason does not name \(path): \(reason)")
        }
        #expect(summary["added"] as? Int == expect.good.count)

        // What the index holds: every good file with one embedding, every failure (decoder or scan) with its reason.
        let snapshot = try IndexSnapshot.read(db)
        let surplus = Set(snapshot.tracks.keys).subtracting(expect.good).sorted()
        let absent = expect.good.subtracting(snapshot.tracks.keys).sorted()
        #expect(Set(snapshot.tracks.keys) == expect.good, "indexed but expected to fail: \(surplus); not indexed: \(absent)")
        #expect(snapshot.tracks.values.allSatisfy { $0.vectors.count == 1 })
        for vector in snapshot.tracks.values.flatMap(\.vectors.values) {
            #expect(vector.floats.allSatisfy { $0.isFinite })
        }
        #expect(Set(snapshot.failures.keys) == expect.bad.union(expect.scanProblems))

        // The human summary: one line per failure naming the file, and the exit status again.
        let again = try runRetrieve(["index", music.path, "--db", db, "--model", model.path, "--retry-failures", "-q"],
                                    in: folder.url)
        #expect(again.exit.status == 3, "\(again.exit): \(again.stderr)")
        let lines = again.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.contains("audio files found") == true, "\(again.stdout)")
        let listed = Set(expect.bad.union(expect.scanProblems)).filter { path in
            lines.contains { $0.hasPrefix("    \(path): ") && !$0.hasPrefix("    \(path): \(path)") }
        }
        let shown = min(20, expect.bad.count + expect.scanProblems.count)
        #expect(listed.count == shown, "summary lists \(listed.count) failures, expected \(shown):\n\(again.stdout)")
        let kinds = try GRDB.DatabaseQueue(path: db).read { db in
            try GRDB.Row.fetchAll(db, sql: "SELECT kind, COUNT(*) FROM failures GROUP BY kind ORDER BY kind")
                .map { "\($0[0] as String): \($0[1] as Int)" }
        }
        print("bad-file collection: \(expect.good.count + expect.bad.count + expect.scanProblems.count) files tried, "
              + "\(expect.good.count) indexed, \(expect.bad.count) failed in analysis (\(kinds.joined(separator: ", "))), "
              + "\(expect.scanProblems.count) refused by the walk")
    }
}

/// A FIFO named like audio, given as a root: it must be refused, not opened (a decoder would block on it forever).
/// The run's own timeout turns such a hang into a failure. (A time limit on the test did too, but it also counted
/// the minutes the test waited for a thread in a parallel run: 243 s of a 300-s limit in a passing CI run.)
@Test func fifoGivenAsARootIsRefusedNotOpened() throws {
    let folder = try TemporaryDirectory(prefix: "retrieve-torture-fifo")
    let model = folder.path("model.safetensors")
    try Torture.makeModel(at: model, seed: 5)
    let fifo = folder.path("pipe.flac")
    try #require(mkfifo(fifo.path, 0o644) == 0)
    let run = try runRetrieve(["index", fifo.path, "--db", folder.path("i.sqlite").path, "--model", model.path, "--json"],
                              in: folder.url, timeout: 120)
    #expect(run.exit.status == 3, "\(run.exit) \(run.stderr)")
    #expect(run.stdout.contains("not a regular file"), "\(run.stdout)")
}
