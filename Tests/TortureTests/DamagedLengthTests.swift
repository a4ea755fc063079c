import AudioDecoding
import Foundation
import Analysis
import SequenceEncoding
import Testing
import TestSupport

/// Files whose header lies about their length (issue 11, defect 2) are analysed, stored and shown by the length
/// they decode to, and cut into exactly the segments an honest copy of the same audio gets.
@Suite(.serialized) struct DamagedLengthTests {
    static let id3v1: Data = {
        var tag = Data("TAG".utf8)
        for field in ["Tagged copy", "Someone", "Some album"] { tag += Data(field.utf8) + Data(count: 30 - field.utf8.count) }
        return tag + Data("2026".utf8) + Data(count: 30) + Data([12])
    }()

    /// Twelve seconds of a two-tone chord in `format`, and copies damaged in the ways the trial found.
    static func collection(in music: URL) throws -> [URL] {
        try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
        var files: [URL] = []
        for format in [AudioFileFormat.oggVorbis, .opus, .mp3, .flac16] {
            let rate = format == .opus ? 48_000 : 22_050
            let url = music.appendingPathComponent("original.\(format.fileExtension)")
            try AudioFileWriter.write(Torture.tone(3, seconds: 12, sampleRate: rate), sampleRate: rate, format: format,
                                      to: url)
            let bytes = try Data(contentsOf: url)
            try FileManager.default.removeItem(at: url)
            var damaged: [(String, Data)] = [("tagged", bytes + id3v1), ("junk", bytes + Data([0x5A])),
                                             ("truncated", bytes.prefix(bytes.count * 6 / 10))]
            if format == .flac16 {
                // STREAMINFO's total samples (36 bits from byte 8 + 13) set to three days at 22 050 Hz.
                var lying = bytes
                let days = UInt64(22_050 * 86_400 * 3), at = lying.startIndex + 21
                lying[at] = (lying[at] & 0xF0) | UInt8(days >> 32)
                for i in 0..<4 { lying[at + 1 + i] = UInt8((days >> (24 - 8 * UInt64(i))) & 0xFF) }
                damaged.append(("days-in-streaminfo", lying))
            }
            for (name, data) in damaged {
                let file = music.appendingPathComponent("\(name).\(format.fileExtension)")
                try data.write(to: file)
                files.append(file)
            }
        }
        return files
    }

    /// Each damaged file's analysis equals that of a WAV holding exactly the samples it decodes to: same length,
    /// same number of segments, same embedding. `maxSegments` is small so that the hop depends on the length.
    @Test func damagedFilesAreCutLikeHonestCopiesOfTheirAudio() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-torture-length")
        let encoder = try Torture.makeModel(at: folder.path("model.safetensors"), seed: 11)
        for maxSegments in [240, 8] {
            let analyser = try EncoderAnalyser(encoder: encoder)
            analyser.maxSegments = maxSegments
            let decoder = AudioDecoder(targetSampleRate: encoder.configuration.features.sampleRate)
            for file in try Self.collection(in: folder.path("music-\(maxSegments)")) {
                let name = file.lastPathComponent
                let analysis = try analyser.analyse(path: file.path)
                let samples = try decoder.decode(file).samples
                let honest = folder.path("honest-\(maxSegments)-\(name).wav")
                try AudioFileWriter.write(samples, sampleRate: decoder.targetSampleRate, format: .wavFloat, to: honest)
                let reference = try analyser.analyse(path: honest.path)
                #expect(abs(analysis.info.duration - reference.info.duration) < 1e-3,
                        "\(name): \(analysis.info.duration) s, its audio is \(reference.info.duration) s")
                #expect(analysis.info.duration < 12.1, "\(name): \(analysis.info.duration) s")
                #expect(analysis.segmentCount == reference.segmentCount, "\(name), at most \(maxSegments) segments")
                #expect(zip(analysis.embedding.values, reference.embedding.values).allSatisfy { abs($0 - $1) < 1e-5 },
                        "\(name): the embedding differs from that of its own audio")
                if !name.hasPrefix("truncated") {
                    #expect(abs(analysis.info.duration - 12) < 0.1, "\(name): \(analysis.info.duration) s")
                }
            }
        }
    }

    /// `retrieve index`, then `list` and `stats`: every damaged file is indexed with its decoded length, and no
    /// table shows an absurd time.
    @Test func indexedLengthsAreTheDecodedOnes() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-torture-length-cli")
        let model = folder.path("model.safetensors")
        try Torture.makeModel(at: model, seed: 12)
        let files = try Self.collection(in: folder.path("music"))
        let db = folder.path("index.sqlite").path
        let index = try runRetrieve(["index", folder.path("music").path, "--db", db, "--model", model.path, "-q",
                                     "--jobs", "2"], in: folder.url)
        #expect(index.exit.status == 0, "\(index.exit)\n\(index.stdout)\n\(index.stderr)")
        let snapshot = try IndexSnapshot.read(db)
        #expect(snapshot.tracks.count == files.count)
        let list = try runRetrieve(["list", "--db", db, "--model", model.path], in: folder.url)
        #expect(list.exit.status == 0, "\(list.exit)\n\(list.stderr)")
        let times = list.stdout.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: "\t")
            return fields.count >= 4 ? String(fields[1]) : nil
        }
        #expect(times.count == files.count, "\(list.stdout)")
        for time in times {
            // 12 s, or what a truncated copy holds (a steady chord's Vorbis is mostly header: 3 s): never hours.
            #expect(time.hasPrefix("0:") && (1...12).contains(Int(time.dropFirst(2)) ?? -1), "\(list.stdout)")
        }
        let stats = try runRetrieve(["stats", "--db", db, "--model", model.path], in: folder.url)
        #expect(stats.exit.status == 0, "\(stats.exit)\n\(stats.stderr)")
        let total = stats.stdout.split(separator: "\n").first { $0.hasPrefix("tracks") } ?? ""
        #expect(total.contains("m") && !total.contains("h"),
                "the total of \(files.count) tracks of at most 12 s is minutes: \(stats.stdout)")
    }
}
